"""Browser journey: a marketer builds a segment with a live count, writes a bonus offer in
Swedish and English, previews it for a member, launches it to a small test group and
watches it send; the member finds it on "My offers" and activates it."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from playwright.sync_api import expect

from campaigns.models import Campaign, Delivery, MemberOffer
from rewards.models import Category
from tests import factories
from tests.factories import consent as consent_f

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DESKTOP = {"width": 1280, "height": 900}


def _page_as(new_page, live_server, user, *, language="sv", viewport=None):
    client = Client()
    client.force_login(user)
    page = new_page(locale="sv-SE" if language == "sv" else "en-GB", viewport=viewport)
    page.context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": live_server.url,
            },
            {"name": "django_language", "value": language, "url": live_server.url},
        ]
    )
    return page


def test_marketer_builds_previews_launches_and_member_activates(live_server, new_page):
    # given members: Sara and Erik run (Erik reads English), Olle does not
    sara = factories.member_with_user(first_name="Sara", email="sara@example.se")
    erik = factories.member_with_user(
        first_name="Erik", email="erik@example.se", preferred_language="en"
    )
    olle = factories.member_with_user(first_name="Olle", email="olle@example.se")
    from consent.models import Interest
    from consent.services.preferences import interests_set

    running = Interest.objects.get(code="running")
    for member in (sara, erik):
        interests_set(member=member, interest_ids=[running.pk], actor=member.user)
    for member in (sara, erik, olle):
        consent_f.granted(member, "profiling")
    shoes = Category.objects.create(code="shoes", name="Skor")
    marketer = factories.staff_user(superuser=True)
    page = _page_as(new_page, live_server, marketer, viewport=DESKTOP)
    base = live_server.url

    # The marketer builds a segment and sees the live count
    page.goto(base + "/admin/campaigns/segment/add/")
    page.fill("#id_name", "Löpare")
    page.click("#builder-add")
    condition = page.locator("[data-testid=builder-condition]").first
    condition.locator("select[data-part=field]").select_option("interest")
    condition.locator("input[data-part=codes]").fill("running")
    expect(page.locator("#live-count")).to_have_text("2")
    assert "Sara" in page.locator("#live-sample").inner_text()
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/campaigns/segment/$"))

    # writes the offer in both languages
    page.goto(base + "/admin/campaigns/offer/add/")
    page.fill("#id_name", "3x skor")
    page.select_option("#id_kind", "bonus_points")
    page.fill("#id_title_sv", "Tredubbla poäng på skor, {{ first_name }}")
    page.fill("#id_title_en", "Triple points on shoes, {{ first_name }}")
    page.fill("#id_body_sv", "Gäller i 14 dagar när du har aktiverat.")
    page.fill("#id_body_en", "Valid for 14 days once activated.")
    page.fill("#id_multiplier", "3")
    page.fill("#id_category", str(shoes.pk))
    page.click("input[name=_save]")
    page.wait_for_url(re.compile(r"/admin/campaigns/offer/$"))

    # sets up the campaign for a test group of one, with the member page as channel
    page.goto(base + "/admin/campaigns/campaign/add/")
    page.fill("#id_name", "Skovecka")
    page.select_option("#id_segment", label="Löpare")
    page.check("input[name=channels][value=onsite]")
    page.fill("#id_holdout_percent", "0")
    page.fill("#id_test_group_size", "1")
    page.fill("#id_variants-0-code", "A")
    page.fill("#id_variants-0-weight", "100")
    from campaigns.models import Offer

    page.fill("#id_variants-0-offer", str(Offer.objects.get(name="3x skor").pk))
    page.fill("#id_variants-0-email_subject_sv", "Skovecka")
    page.fill("#id_variants-0-email_subject_en", "Shoe week")
    page.click("input[name=_continue]")
    page.wait_for_url(re.compile(r"/admin/campaigns/campaign/\d+/change/$"))
    campaign = Campaign.objects.get(name="Skovecka")

    # previews it for Erik, in English
    page.click(f"a[href='/admin/campaigns/campaign/{campaign.pk}/preview/']")
    page.fill("#preview-member", erik.membership_number)
    page.click("form.preview-member input[type=submit]")
    assert (
        page.locator("[data-testid=preview-title]").inner_text() == "Triple points on shoes, Erik"
    )

    # launches it to the test group and watches the progress bar reach the end
    page.goto(base + f"/admin/campaigns/campaign/{campaign.pk}/change/")
    page.click("[data-testid=launch]")
    page.wait_for_url(re.compile(r"/progress/$"))
    expect(page.locator("[data-field=percent]")).to_have_text("100")
    assert page.locator("[data-testid=progress-sent]").inner_text() == "1"
    assert page.locator("[data-testid=progress-status]").inner_text() == "Klar"  # "done"
    delivery = Delivery.objects.get(campaign=campaign)
    assert delivery.member_id in (sara.pk, erik.pk)
    member = sara if delivery.member_id == sara.pk else erik
    language = "sv" if member is sara else "en"

    # the member sees the offer on "My offers", in their language, and activates it
    member_page = _page_as(new_page, live_server, member.user, language=language)
    member_page.goto(base + "/mina-sidor/")
    member_page.locator("header nav a[href='/mina-sidor/erbjudanden/']").click()
    card = member_page.locator("[data-testid=offer-card]")
    expected = "Tredubbla poäng på skor" if language == "sv" else "Triple points on shoes"
    assert expected in card.inner_text()
    card.locator("button[type=submit]").click()
    member_page.wait_for_selector("[data-testid=offer-active]")
    assert MemberOffer.objects.get(member=member).status == "active"
    assert not MemberOffer.objects.filter(member=olle).exists()
