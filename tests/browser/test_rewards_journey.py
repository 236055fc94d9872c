"""A member sees their tier progress, claims a reward and shows the voucher's QR code, in
Swedish and English; a staff member approves the member's review in admin and the member's
points rise."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from rewards.loyalty import reviews, tiers
from rewards.models import EventRule, PointBalance, Voucher
from tests import factories
from tests.factories import rewards as rf

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEXT = {
    "sv": {"left": "380 poäng kvar till Guld", "nav": "Belöningar", "claim": "Ja, hämta den"},
    "en": {"left": "380 points left to Gold", "nav": "Reward catalogue", "claim": "Yes, claim it"},
}


def _session_for(user: Any) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def _open(new_page: Any, live_server: Any, session: str, language: str) -> Any:
    page = new_page(locale="sv-SE" if language == "sv" else "en-GB")
    page.context.add_cookies(
        [
            {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url},
            {"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url},
        ]
    )
    return page


@pytest.mark.parametrize("language", ["sv", "en"])
def test_member_sees_tier_progress_claims_reward_and_shows_voucher_qr(
    live_server, new_page, language
):
    # given a Silver member with 2,620 points and a SEK 50 voucher for 300 points
    # (set up before the browser starts: see tests/browser/conftest.py)
    member = factories.member_with_user(preferred_language=language)
    rf.ladder()
    rf.earned(member, 2620)
    tiers.tiers_reevaluate()
    rf.reward(code="femtio", points_cost=300, name_sv="50 kr rabatt", name_en="SEK 50 off")
    session = _session_for(member.user)
    text = TEXT[language]
    page = _open(new_page, live_server, session, language)

    # when they open My pages, then their tier progress shows
    page.goto(f"{live_server.url}/mina-sidor/")
    assert page.locator("html").get_attribute("lang") == language
    assert page.get_by_test_id("tier-remaining").inner_text() == text["left"]
    assert page.locator("main progress").first.is_visible()

    # when they open the catalogue from the menu, pick the reward and confirm
    page.locator("header nav .more-menu summary").click()  # the catalogue is under "Mer"
    page.locator("header nav").get_by_role("link", name=text["nav"]).click()
    page.wait_for_url("**/mina-sidor/beloningar/")
    page.get_by_test_id("reward-femtio").get_by_role("link").click()
    page.wait_for_url("**/mina-sidor/beloningar/femtio/")
    page.get_by_role("button", name=text["claim"]).click()

    # then the voucher shows with a scannable QR code and its code, on the phone's screen
    page.wait_for_url(re.compile(r"/mina-sidor/vouchers/\d+/$"))
    qr = page.get_by_test_id("voucher-qr").locator("svg")
    assert qr.is_visible()
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] >= 150
    assert box["x"] + box["width"] <= 390
    code = page.get_by_test_id("voucher-code").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.context.close()

    voucher = Voucher.objects.get(member=member)
    assert code == voucher.formatted_code
    assert PointBalance.objects.get(member=member).available == 2320


def test_staff_approves_review_in_admin_and_member_points_rise(live_server, new_page):
    # given a member's pending review, a review rule worth 50 points and a staff member
    rf.event_rule(event=EventRule.Event.REVIEW, points=50, cap=5, period="month")
    member = factories.member_with_user()
    rf.earned(member, 100)
    reviews.review_submit(member=member, kind="review", text="Bästa löparskorna jag haft!")
    staff = factories.staff_user(role="Store staff")
    staff_session = _session_for(staff)
    member_session = _session_for(member.user)

    # when the staff member opens the moderation queue and approves it
    page = _open(new_page, live_server, staff_session, "sv")
    page.goto(f"{live_server.url}/admin/rewards/review/")
    assert "Bästa löparskorna" in page.locator("#result_list").inner_text()
    page.locator("#result_list input[name=_selected_action]").first.check()
    page.locator("select[name=action]").select_option("approve")
    page.locator("button[name=index]").click()
    page.wait_for_load_state()
    assert page.locator("ul.messagelist").is_visible()

    # then the member sees 150 points on their page
    member_page = _open(new_page, live_server, member_session, "sv")
    member_page.goto(f"{live_server.url}/mina-sidor/")
    assert member_page.get_by_test_id("points-available").inner_text() == "150"
