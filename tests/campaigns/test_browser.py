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
    condition.get_by_label("Löpning").check()
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
    page.select_option("#id_category", label=str(shoes))  # chosen by name
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
    page.select_option("#id_variants-0-offer", label="3x skor")  # chosen by name
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


def test_marketer_picks_a_store_and_a_category_from_lists(live_server, new_page):
    # given Sara and Erik, whose home store is Södermalm, and Olle from Göteborg; Sara and
    # Olle bought shoes
    from tests.factories import rewards as rewards_f

    sodermalm = factories.store(code="sthlm-sodermalm", name="Södermalm")
    goteborg = factories.store(code="gbg-nordstan", name="Nordstan")
    Category.objects.create(code="shoes", name="Skor")
    Category.objects.create(code="socks", name="Strumpor")
    sara = factories.member_with_user(first_name="Sara", home_store=sodermalm)
    factories.member_with_user(first_name="Erik", home_store=sodermalm)
    olle = factories.member_with_user(first_name="Olle", home_store=goteborg)
    for member, store in ((sara, sodermalm), (olle, goteborg)):
        rewards_f.purchase(store=store, member=member, lines=[rewards_f.line(category="shoes")])
    marketer = factories.staff_user(superuser=True)
    page = _page_as(new_page, live_server, marketer, viewport=DESKTOP)
    base = live_server.url

    # The marketer opens the builder: no error box, no JSON until asked for
    page.goto(base + "/admin/campaigns/segment/add/")
    expect(page.locator("#live-count")).to_have_text(re.compile(r"^\d+$"))
    expect(page.locator("#live-error")).to_be_hidden()
    expect(page.locator("textarea[name=criteria]")).to_be_hidden()
    page.fill("#id_name", "Skoköpare på Södermalm")

    # picks the home store Södermalm from the list of stores
    page.click("#builder-add")
    store_row = page.locator("[data-testid=builder-condition]").nth(0)
    store_row.locator("select[data-part=field]").select_option("store")
    assert store_row.locator("input[type=text]").count() == 0
    store_row.get_by_label("Södermalm").check()
    expect(page.locator("#live-count")).to_have_text("2")
    expect(page.locator("#live-count-label")).to_have_text("matchande medlemmar")

    # and the category Skor, with the keyboard
    page.click("#builder-add")
    category_row = page.locator("[data-testid=builder-condition]").nth(1)
    category_row.locator("select[data-part=field]").select_option("bought_category")
    category_row.get_by_label("Skor").focus()
    page.keyboard.press("Space")
    expect(page.locator("#live-count")).to_have_text("1")
    expect(page.locator("#live-count-label")).to_have_text("matchande medlem")
    assert "Sara" in page.locator("#live-sample").inner_text()
    expect(page.locator("#live-error")).to_be_hidden()

    # the rows never overlap, on a desktop or a tablet held upright
    for width in (1280, 768):
        page.set_viewport_size({"width": width, "height": 900})
        boxes = [
            row.bounding_box() for row in page.locator("[data-testid=builder-condition]").all()
        ]
        assert boxes[0]["y"] + boxes[0]["height"] <= boxes[1]["y"]
        for row in page.locator("[data-testid=builder-condition]").all():
            box = row.bounding_box()
            for part in row.locator("select, input, button, legend").all():
                inner = part.bounding_box()
                if inner is None:  # filtered out of the list
                    continue
                assert box["x"] <= inner["x"], width
                assert inner["x"] + inner["width"] <= box["x"] + box["width"] + 1, width
    page.set_viewport_size(DESKTOP)

    # the JSON is there when asked for
    page.get_by_text("Visa som JSON").click()
    expect(page.locator("textarea[name=criteria]")).to_be_visible()
    assert "sthlm-sodermalm" in page.locator("textarea[name=criteria]").input_value()

    # saves, and the segment has the codes
    page.click("input[name=_continue]")
    page.wait_for_url(re.compile(r"/admin/campaigns/segment/\d+/change/$"))
    from campaigns.models import Segment

    segment = Segment.objects.get(name="Skoköpare på Södermalm")
    assert segment.criteria == {
        "op": "and",
        "children": [
            {"field": "store", "mode": "home", "value": ["sthlm-sodermalm"]},
            {"field": "bought_category", "value": ["shoes"]},
        ],
    }

    # reopened, the codes are chosen, and a code whose store has gone is shown as such
    segment.criteria["children"][0]["value"].append("sthlm-gone")
    segment.save(update_fields=["criteria"])
    page.reload()
    store_row = page.locator("[data-testid=builder-condition]").nth(0)
    expect(store_row.get_by_label("Södermalm")).to_be_checked()
    expect(store_row.get_by_label("sthlm-gone (finns inte längre)")).to_be_checked()
    expect(
        page.locator("[data-testid=builder-condition]").nth(1).get_by_label("Skor")
    ).to_be_checked()
    expect(page.locator("textarea[name=criteria]")).to_be_hidden()
