"""A newcomer joins on a phone, verifies the email, logs in and shows the digital card."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from members.models import Member
from tests.browser.fixtures import mail_link

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Grön-Tulpan-1987"

TEXT = {
    "sv": {
        "signup_heading": "Bli medlem i klubben",
        "verify_heading": "Bekräfta din e-postadress",
        "card": "Mitt kort",
        "number": "Medlemsnummer",
        "subject": "Välkommen till klubben",
    },
    "en": {
        "signup_heading": "Join the club",
        "verify_heading": "Confirm your email address",
        "card": "My card",
        "number": "Membership number",
        "subject": "Welcome to the club",
    },
}


def _submit(page) -> None:
    page.locator("main form button[type=submit]").last.click()


@pytest.mark.parametrize("language", ["sv", "en"])
def test_new_member_joins_verifies_logs_in_and_shows_card(live_server, phone_page, language):
    page = phone_page
    text = TEXT[language]
    email = f"astrid.{language}@example.se"

    # Given a newcomer on the club's start page on their phone (browser set to Swedish)
    page.goto(live_server.url + "/")
    if language == "en":
        # When they switch language with the switcher
        page.locator(".language-switch button[value=en]").click()
        page.wait_for_load_state()
        assert page.locator("html").get_attribute("lang") == "en"

    # When they join
    page.locator("main a[href='/konto/signup/']").first.click()
    assert text["signup_heading"] in page.locator("main h1").inner_text()
    page.fill("input[name=first_name]", "Astrid")
    page.fill("input[name=last_name]", "Lindqvist")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.fill("input[name=phone]", "070-123 45 67")
    _submit(page)

    # Then they are asked to verify their email, and the email is in their language
    page.wait_for_url(re.compile(r"/konto/confirm-email/$"))
    assert text["verify_heading"].lower() in page.locator("main").inner_text().lower()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [email]
    assert text["subject"] in message.subject
    member = Member.objects.get(user__email=email)
    assert member.preferred_language == language
    assert member.phone == "+46701234567"

    # When they open the link from the email and confirm
    page.goto(mail_link(message))
    _submit(page)
    # Then they are asked what they like (optional) and skip it (test_interests_journey.py)
    page.wait_for_url(re.compile(r"/mina-sidor/vad-gillar-du/$"))
    page.locator("[data-testid=interests-skip]").click()
    page.wait_for_url(re.compile(r"/mina-sidor/$"))

    # And log out, then log in again
    page.locator("header nav .more-menu summary").click()  # "Mer": the tab bar's last tab
    page.locator("header form[action='/konto/logout/'] button").click()
    page.wait_for_load_state()
    page.goto(live_server.url + "/konto/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    _submit(page)
    page.wait_for_url(re.compile(r"/mina-sidor/$"))
    assert page.locator("header nav a[href='/mina-sidor/']").get_attribute("aria-current") == "page"

    # Then the card page shows the QR code and the membership number, in their language
    page.locator("header nav a[href='/mina-sidor/kort/']").click()
    page.wait_for_url(re.compile(r"/mina-sidor/kort/$"))
    qr = page.locator("[data-testid=card-qr] svg")
    assert qr.count() == 1
    assert qr.is_visible()
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] >= 150  # big enough to scan on a 390 px wide screen
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 390
    card = page.locator(".membership-card").inner_text()
    assert member.formatted_membership_number in card
    assert text["number"] in card
    assert "Astrid Lindqvist" in card
    assert page.title().startswith(text["card"])
    # And the page fits the phone: no sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
