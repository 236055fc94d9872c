"""A newcomer signs up on a phone, is asked "Vad gillar du?", chooses two tiles and sees the
points for telling on Mina sidor, paid by a real Celery worker through the timeline consumer
(issue 16, interests)."""

from __future__ import annotations

import re
import time

import pytest
from allauth.account.models import EmailAddress, EmailConfirmationHMAC

from consent.models import MemberInterest
from members.models import Member
from rewards.models import EventRule
from tests.factories import rewards as rf

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Grön-Tulpan-1987"


def _submit(page) -> None:
    page.locator("main form button[type=submit]").last.click()


def _sign_up(page, base: str, email: str) -> None:
    page.goto(base + "/konto/signup/")
    page.fill("input[name=first_name]", "Maja")
    page.fill("input[name=last_name]", "Ek")
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    _submit(page)
    page.wait_for_url(re.compile(r"/konto/confirm-email/$"))
    # The mail goes out from the worker's process: the link is made here from the address.
    address = EmailAddress.objects.get(email=email)
    page.goto(base + f"/konto/confirm-email/{EmailConfirmationHMAC(address).key}/")
    _submit(page)


def test_sign_up_choose_two_interests_and_see_the_points(
    live_server, new_page, celery_worker_process
):
    # Given the staff's rule: 50 points the first time a member tells what they like
    rf.event_rule(
        event=EventRule.Event.INTERESTS_TOLD,
        points=50,
        name_sv="Tack för att du berättade vad du gillar",
        name_en="Thanks for telling us what you like",
    )
    page = new_page(locale="en-GB")  # a phone, in English

    # When a newcomer signs up and confirms their email on the phone
    _sign_up(page, live_server.url, "maja@example.se")

    # Then the step "Vad gillar du?" comes, with large tiles that fit the screen
    page.wait_for_url(re.compile(r"/mina-sidor/vad-gillar-du/$"))
    assert page.locator("main h1").inner_text() == "What do you like?"
    tiles = page.locator("label.interest-tile")
    assert tiles.count() >= 2
    for n in range(tiles.count()):
        box = tiles.nth(n).bounding_box()
        assert box is not None
        assert box["height"] >= 44
        assert box["width"] >= 44
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 390
    assert page.locator("[data-testid=interests-hint]").inner_text() == (
        "Tell us what you like and get 50 points."
    )

    # When they choose two: one by tapping its tile, one with the keyboard
    tiles.filter(has_text="Running").click()
    page.locator("label.interest-tile", has_text="Yoga").locator("input").focus()
    page.keyboard.press("Space")
    assert page.locator("label.interest-tile input:checked").count() == 2
    page.locator("[data-testid=interests-save]").click()

    # Then Mina sidor thanks them and, once the worker has paid, shows the 50 points
    page.wait_for_url(re.compile(r"/mina-sidor/$"))
    member = Member.objects.get(user__email="maja@example.se")
    assert set(
        MemberInterest.objects.filter(member=member).values_list("interest__code", flat=True)
    ) == {"running", "yoga"}
    deadline = time.monotonic() + 10
    while page.locator("[data-testid=points-available]").inner_text().strip() != "50":
        assert time.monotonic() < deadline, "the points never showed on Mina sidor"
        time.sleep(0.5)
        page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_step_can_be_skipped_and_is_not_asked_again(live_server, phone_page):
    page = phone_page
    _sign_up(page, live_server.url, "olle@example.se")
    page.wait_for_url(re.compile(r"/mina-sidor/vad-gillar-du/$"))

    page.locator("[data-testid=interests-skip]").click()

    page.wait_for_url(re.compile(r"/mina-sidor/$"))
    member = Member.objects.get(user__email="olle@example.se")
    assert not MemberInterest.objects.filter(member=member).exists()
    # Logging in again goes straight to Mina sidor
    page.locator("header nav .more-menu summary").click()
    page.locator("header form[action='/konto/logout/'] button").click()
    page.wait_for_load_state()
    page.goto(live_server.url + "/konto/login/")
    page.fill("input[name=login]", "olle@example.se")
    page.fill("input[name=password]", PASSWORD)
    _submit(page)
    page.wait_for_url(re.compile(r"/mina-sidor/$"))
