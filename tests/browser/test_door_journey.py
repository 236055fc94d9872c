"""Door check-in without an app, on a phone (issue 14, docs/desk.md): the member opens the
door poster's address (what the phone's camera does with its QR code), logs in if needed,
is checked in by the page itself and sees a personal offer, in Swedish and in English; the
desk lists the arrival."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from playwright.sync_api import expect

from members.door import store_door_path
from members.roles import STORE_STAFF
from rewards.models import CheckIn
from tests import factories
from tests.factories import consent as consent_factories
from tests.factories.personalisation import recommendation_with_every_field

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"


@pytest.mark.parametrize("language", ["sv", "en"])
def test_a_member_scans_the_door_poster_logs_in_and_sees_a_personal_offer(
    live_server, new_page, language: str
) -> None:
    # given a member who agreed to personal offers and has a recommendation
    shop = factories.store(name="Södermalm")
    member = factories.member_with_user(
        first_name="Karin", last_name="Lind", preferred_language=language
    )
    consent_factories.granted(member, "profiling")
    recommendation_with_every_field(member)
    page = new_page(locale="sv-SE" if language == "sv" else "en-GB")
    page.context.add_cookies(
        [{"name": "django_language", "value": language, "url": live_server.url}]
    )

    # when the phone opens the poster's address, not logged in: the login page first
    page.goto(live_server.url + store_door_path(shop))
    page.fill("input[name=login]", member.user.email)
    page.fill("input[name=password]", PASSWORD)
    started = time.monotonic()
    page.locator("main form button[type=submit]").last.click()

    # then the member is checked in by the page itself and sees the offer within 3 s
    expect(page.get_by_test_id("door-welcome")).to_contain_text("Södermalm", timeout=3_000)
    expect(page.get_by_test_id("door-offer")).to_contain_text("Regnjacka", timeout=3_000)
    assert time.monotonic() - started < 3
    welcome = "Välkommen, Karin!" if language == "sv" else "Welcome, Karin!"
    expect(page.get_by_test_id("door-welcome")).to_contain_text(welcome)
    assert CheckIn.objects.filter(member=member, store=shop).count() == 1

    # when the member scans again later that day: no second check-in
    page.goto(live_server.url + store_door_path(shop))
    expect(page.get_by_test_id("door-welcome")).to_be_visible()
    assert CheckIn.objects.filter(member=member, store=shop).count() == 1

    # and the desk lists the arrival
    staff = Client()
    staff.force_login(factories.staff_user(role=STORE_STAFF))
    assert "Karin Lind" in staff.get("/admin/desk/").content.decode()
