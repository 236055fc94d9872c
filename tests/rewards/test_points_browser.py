"""A member with purchases sees balance, pending points with dates, expiry dates and the
explained history in a real browser, in Swedish and in English."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from tests.factories import rewards as rf

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shopper_session(member, store) -> str:
    """A member with an available purchase and a pending one; their session cookie.

    Set up before the browser starts: Playwright's sync API runs an event loop in this
    thread, and Django refuses database calls from a thread with a running loop."""
    rf.base_rule(name_sv="1 poäng per krona", name_en="1 point per krona")
    rf.purchase(
        store=store,
        member=member,
        purchased_at=timezone.now() - datetime.timedelta(days=20),
        lines=[rf.line("RUN-1", 1, 30000, name="Löparsko")],
    )
    rf.purchase(store=store, member=member, lines=[rf.line("SOCK", 2, 5000)])
    client = Client()
    client.force_login(member.user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.mark.parametrize(
    ("language", "texts"),
    [
        (
            "sv",
            [
                "Mina poäng",
                "Tillgängligt nu",
                "kan användas till och med",
                "+300 p: 1 poäng per krona",
            ],
        ),
        ("en", ["My points", "Available now", "can be used until", "+300 p: 1 point per krona"]),
    ],
)
def test_points_page_in_browser(live_server, shopper_session, browser, language, texts):
    # given a member with an available purchase and a pending one (shopper_session)
    session = shopper_session

    # when they open the points page from the menu
    context = browser.new_context(locale="sv-SE" if language == "sv" else "en-GB")
    context.add_cookies(
        [
            {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url},
            {"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url},
        ]
    )
    page = context.new_page()
    page.goto(f"{live_server.url}/mina-sidor/")
    page.get_by_role("link", name="Mina poäng" if language == "sv" else "My points").first.click()
    page.wait_for_url("**/mina-sidor/poang/")

    # then balance, pending points with their date, expiries and explanations show
    assert page.get_by_test_id("available").inner_text() == "300 p"
    assert page.get_by_test_id("pending").inner_text() == "100 p"
    pending_day = (timezone.localtime() + datetime.timedelta(days=14)).date()
    assert str(pending_day.year) in page.get_by_test_id("pending-dates").inner_text()
    assert page.get_by_test_id("expiries").is_visible()
    body = page.locator("main").inner_text()
    for text in texts:
        assert text in body
    context.close()
