"""Door check-in without an app, on a phone (issue 14, docs/desk.md): the member opens the
door poster's address (what the phone's camera does with its QR code), logs in if needed,
is checked in by the page itself and sees a personal offer, in Swedish and in English; the
desk lists the arrival."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from campaigns.authoring import campaign_launch
from campaigns.models import Delivery, MemberOffer, Offer
from config.celery import app
from members.door import store_door_path
from members.roles import STORE_STAFF
from rewards.models import Category, CheckIn
from tests import factories
from tests.factories import campaigns as cf
from tests.factories import consent as consent_factories
from tests.factories.personalisation import recommendation_with_every_field

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timing,  # offers and news within 3 s: never beside a benchmark
    pytest.mark.django_db(transaction=True),
]
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


def test_a_campaign_triggered_by_the_check_in_shows_its_offer_within_seconds(
    live_server, new_page, celery_worker_process
) -> None:
    # given a launched campaign that greets every check-in with an on-site offer, and a member
    # who agreed to personal offers, logged in on the phone
    shop = factories.store(name="Södermalm")
    member = factories.member_with_user(first_name="Karin", last_name="Lind")
    consent_factories.granted(member, "profiling")
    coffee = Category.objects.create(code="kaffe", name="Kaffe")
    offer = cf.offer(
        kind=Offer.Kind.BONUS_POINTS,
        title_sv="Dubbla poäng på kaffe i dag",
        title_en="Double points on coffee today",
        category=coffee,
    )
    campaign = cf.campaign(
        schedule_kind="trigger", trigger="checked_in", channels=["onsite"], offer_obj=offer
    )
    campaign_launch(campaign=campaign, actor=None)
    page = new_page(locale="sv-SE")
    page.goto(live_server.url + "/konto/login/")
    page.fill("input[name=login]", member.user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(lambda url: "/konto/login/" not in url)

    # when the phone opens the door poster's address
    started = time.monotonic()
    page.goto(live_server.url + store_door_path(shop))

    # then the welcome page says the offer is coming, and the worker's offer appears on it
    # within 3 s, ready to activate
    expect(page.get_by_test_id("door-welcome")).to_contain_text("Välkommen, Karin!")
    # (already on the page when the worker was quicker than the redirect, else it arrives
    # in the "on its way" slot that the page keeps asking for)
    visit_offer = page.locator(
        '[data-testid="door-offer"], [data-testid="door-visit-offer"]'
    ).filter(has_text="Dubbla poäng på kaffe i dag")
    expect(visit_offer).to_be_visible(timeout=3_000)
    assert time.monotonic() - started < 3
    expect(visit_offer.get_by_role("button", name="Aktivera")).to_be_visible()
    delivery = Delivery.objects.get(member=member, campaign=campaign)
    assert (delivery.channel, delivery.status) == ("onsite", Delivery.Status.SENT)

    # and activating it there starts the offer
    visit_offer.get_by_role("button", name="Aktivera").click()
    expect(page.locator("main")).to_contain_text("Erbjudandet är aktivt")
    assert MemberOffer.objects.get(member=member).status == MemberOffer.Status.ACTIVE


def test_the_welcome_page_shows_the_offer_when_the_worker_brings_it(
    live_server, new_page, celery_worker_process
) -> None:
    # given the same campaign, and a worker that is busy elsewhere (not consuming) when the
    # member checks in
    shop = factories.store(name="Södermalm")
    member = factories.member_with_user(first_name="Karin", preferred_language="en")
    consent_factories.granted(member, "profiling")
    offer = cf.offer(
        kind=Offer.Kind.BONUS_POINTS,
        title_en="Double points on coffee today",
        category=Category.objects.create(code="kaffe", name="Kaffe"),
    )
    campaign_launch(
        campaign=cf.campaign(
            schedule_kind="trigger", trigger="checked_in", channels=["onsite"], offer_obj=offer
        ),
        actor=None,
    )
    queues = [settings.CELERY_TASK_DEFAULT_QUEUE, settings.CAMPAIGNS_QUEUE]
    for queue in queues:
        app.control.cancel_consumer(queue, reply=True)
    page = new_page(locale="en-GB")
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    page.goto(live_server.url + "/konto/login/")
    page.fill("input[name=login]", member.user.email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(lambda url: "/konto/login/" not in url)

    # when the member scans the poster: welcomed, with the offer on its way
    page.goto(live_server.url + store_door_path(shop))
    expect(page.get_by_test_id("door-offer-coming")).to_be_visible()
    assert not MemberOffer.objects.filter(member=member).exists()

    # then, once the worker takes the work, the offer replaces the line without a reload
    for queue in queues:
        app.control.add_consumer(queue, reply=True)
    visit_offer = page.get_by_test_id("door-visit-offer")
    expect(visit_offer).to_contain_text("Double points on coffee today", timeout=10_000)
    expect(page.get_by_test_id("door-offer-coming")).to_have_count(0)
    expect(visit_offer.get_by_role("button", name="Activate")).to_be_visible()
