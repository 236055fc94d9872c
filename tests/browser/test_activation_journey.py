"""A member who joined the old club (imported, no password) activates their account on a
phone, in Swedish, from the login page, and lands on their own membership with its points."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from members.imports import members_import
from members.models import Member, User
from members.services import member_create
from rewards.selectors import balance_get
from tests.browser.fixtures import mail_link
from tests.factories import rewards as rf

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Grön-Tulpan-1987"
FILE = (
    "external_id;first_name;last_name;email;phone;birth_date;postcode;home_store;joined_at;"
    "language\r\nK-9;Åsa;Öberg;asa.oberg@example.se;070-123 45 67;;;;2019-06-14;sv\r\n"
)


def test_imported_member_activates_in_swedish_and_keeps_number_and_points(live_server, phone_page):
    members_import(data=FILE.encode(), dry_run=False)
    member = Member.objects.get(external_id="K-9")
    rf.earned(member, 420)
    members, users = Member.objects.count(), User.objects.count()
    page = phone_page

    # Given the login page on a Swedish phone, the member follows "Aktivera ditt konto"
    page.goto(live_server.url + "/konto/login/")
    page.get_by_role("link", name="Aktivera ditt konto").click()
    page.wait_for_url(re.compile(r"/konto/aktivera/$"))
    assert page.locator("main h1").inner_text() == "Aktivera ditt konto"

    # When they give their email address (labelled field) and ask for a link
    page.get_by_label("E-post, mobilnummer eller medlemsnummer").fill("asa.oberg@example.se")
    page.get_by_role("button", name="Skicka en länk till mig").click()

    # Then the answer says only "check your email", and the mail went to the address on record
    page.wait_for_url(re.compile(r"/konto/aktivera/skickat/$"))
    assert page.locator("main h1").inner_text() == "Kolla din e-post"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["asa.oberg@example.se"]
    assert "Aktivera ditt konto" in message.subject
    assert "Hej Åsa" in message.body

    # When they open the link and choose a password
    page.goto(mail_link(message, r"https?://\S+/konto/aktivera/\S+/"))
    page.wait_for_url(re.compile(r"/konto/aktivera/losenord/$"))
    assert page.locator("main h1").inner_text() == "Välj ett lösenord"
    page.get_by_label("Lösenord", exact=True).fill(PASSWORD)
    page.get_by_label("Lösenord (igen)").fill(PASSWORD)
    page.get_by_role("button", name="Aktivera mitt konto").click()

    # Then they are logged in on their own pages, as the same member with the same points
    page.wait_for_url(re.compile(r"/mina-sidor/$"))
    assert "Ditt konto är aktiverat" in page.locator("body").inner_text()
    assert (Member.objects.count(), User.objects.count()) == (members, users)
    member.refresh_from_db()
    assert balance_get(member=member)["available"] == 420
    page.goto(live_server.url + "/mina-sidor/kort/")
    assert member.membership_number[:4] in page.locator("main").inner_text().replace(" ", "")

    # And the link does not work a second time
    page.goto(mail_link(message, r"https?://\S+/konto/aktivera/\S+/"))
    assert page.locator("main h1").inner_text() == "Länken fungerar inte"


def test_a_till_member_activates_with_membership_number_and_the_texted_code(
    live_server, phone_page, sms_outbox
):
    """A member who joined at a till (mobile number, no email, no login) types the number on
    the card, gets a text with a code, types the code and the address to log in with."""
    member = member_create(first_name="Tove", last_name="Kassa", phone="070-765 43 21")
    rf.earned(member, 300)
    page = phone_page

    # When they ask for activation with their membership number
    page.goto(live_server.url + "/konto/aktivera/")
    page.get_by_label("E-post, mobilnummer eller medlemsnummer").fill(member.membership_number)
    page.get_by_role("button", name="Skicka en länk till mig").click()

    # Then the page says to look at the phone, and a text with a code went to the number
    page.wait_for_url(re.compile(r"/konto/aktivera/skickat/\?via=sms$"))
    assert page.locator("main h1").inner_text() == "Titta i din mobil"
    assert [sms.to for sms in sms_outbox] == ["+46707654321"]
    code = re.search(r"aktiveringskod är (\d{6})", sms_outbox[0].text)
    assert code is not None, sms_outbox[0].text

    # When they enter the number and the code
    page.get_by_role("link", name="Ange koden").click()
    page.get_by_label("Medlemsnummer eller mobilnummer").fill(member.membership_number)
    page.get_by_label("Koden i sms:et").fill(code.group(1))
    page.get_by_role("button", name="Fortsätt").click()

    # Then they give the address to log in with and a password, and land on their pages
    page.wait_for_url(re.compile(r"/konto/aktivera/losenord/$"))
    page.get_by_label("E-postadress").fill("tove@example.se")
    page.get_by_label("Lösenord", exact=True).fill(PASSWORD)
    page.get_by_label("Lösenord (igen)").fill(PASSWORD)
    page.get_by_role("button", name="Aktivera mitt konto").click()
    page.wait_for_url(re.compile(r"/mina-sidor/$"))
    member.refresh_from_db()
    assert member.user is not None
    assert member.user.email == "tove@example.se"
    assert balance_get(member=member)["available"] == 300
    assert Member.objects.filter(first_name="Tove").count() == 1
