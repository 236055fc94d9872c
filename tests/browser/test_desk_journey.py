"""The staff desk on a tablet (issue 14, docs/desk.md), in Swedish and in English: a card
scanner types the member's QR code into the search field, the customer view opens, staff
check the member in, mark a voucher used and adjust points, and the page loads nothing the
Content Security Policy refuses."""

from __future__ import annotations

import pytest
from django.test import Client
from playwright.sync_api import expect

from members.card import card_qr_payload
from members.roles import STORE_STAFF
from rewards.models import CheckIn, EventRule, Voucher
from rewards.selectors import balance_get
from tests import factories
from tests.factories import rewards as rf

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
TABLET = {"width": 820, "height": 1180}


@pytest.mark.parametrize("language", ["sv", "en"])
def test_staff_scan_a_card_check_in_use_a_voucher_and_adjust_points(
    live_server, new_page, settings, language: str
) -> None:
    settings.DESK_ARRIVALS_REFRESH_SECONDS = 1
    # given a member with points and a voucher, and a check-in rule worth 25 points
    shop = factories.store(name="Södermalm")
    member = factories.member_with_user(first_name="Karin", last_name="Lind", home_store=shop)
    rf.earned(member, 300)
    rf.claim(member, rf.reward(code="kaffe", name_sv="Gratis kaffe", points_cost=100))
    EventRule.objects.create(
        event=EventRule.Event.CHECK_IN, points=25, name_sv="Incheckning", name_en="Check-in"
    )
    staff = factories.staff_user(role=STORE_STAFF)
    client = Client()
    client.force_login(staff)
    page = new_page(locale="sv-SE" if language == "sv" else "en-GB", viewport=TABLET)
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
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )

    # when the scanner types the card's code into the focused field and presses Enter
    page.goto(live_server.url + "/admin/desk/")
    search = page.locator("#desk-q")
    expect(search).to_be_focused()
    page.keyboard.type(card_qr_payload(member))
    page.keyboard.press("Enter")

    # then the customer view opens, in the page's language, with the member's points
    expect(page.locator("#desk-member-name")).to_have_text("Karin Lind")
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.get_by_test_id("desk-available")).to_have_text("200")
    expect(page.locator("#desk-vouchers").locator("xpath=..")).to_contain_text("Gratis kaffe")

    # when staff check the member in (twice: a double tap)
    check_in = page.locator("form[action$='/rewards/check-in/'] button")
    check_in.click()
    expect(page.locator(".messagelist .success")).to_contain_text("Södermalm")
    page.locator("form[action$='/rewards/check-in/'] button").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert CheckIn.objects.filter(member=member).count() == 1

    # and mark the voucher used
    page.locator("form[action*='/rewards/vouchers/'] button").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert Voucher.objects.get(member=member).status == Voucher.Status.USED

    # and adjust points with a reason
    page.locator("#id_points").fill("-50")
    page.locator("#id_reason").fill("Felaktigt köp" if language == "sv" else "Wrong purchase")
    page.locator("form[action$='/rewards/adjust-points/'] button").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    balance = balance_get(member=member)
    assert balance["available"] + balance["pending"] == 200 + 25 - 50

    # when staff go back to the desk's first page, the member is among today's arrivals
    page.goto(live_server.url + "/admin/desk/")
    expect(page.locator("#desk-arrivals")).to_contain_text("Karin Lind")
    # and a member scanned at the door while the page is open shows up by itself
    from rewards.rules.events import checkin_record

    olle = factories.member_with_user(first_name="Olle", last_name="Berg")
    checkin_record(member=olle, store=shop, idempotency_key="door-1")
    expect(page.locator("#desk-arrivals")).to_contain_text("Olle Berg", timeout=5_000)

    # and nothing on the way was refused by the Content Security Policy
    assert refused == []
