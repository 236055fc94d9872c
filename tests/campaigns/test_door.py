"""Door check-in without an app (issue 14, docs/desk.md): the store's door poster, its signed
and rotatable code, the member's check-in when scanning it (once per store and day, shared
with the desk), the personal offer on the page, and every bad code refused clearly."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from campaigns.authoring import campaign_launch
from campaigns.models import (
    Campaign,
    ContactBudget,
    Delivery,
    MemberOffer,
    MemberRecommendation,
    Offer,
)
from campaigns.sending.sendtime import week_of
from campaigns.triggers import trigger_event_handle
from members.activity import Dispatch, Kind, activity_dispatch
from members.door import store_door_path, store_door_token
from members.models import ActivityEvent, Member, Store
from members.roles import ADMINISTRATOR, STORE_STAFF
from rewards.models import Category, CheckIn, EventRule, Reward
from rewards.rules.events import checkin_record_at_door
from tests import factories
from tests.factories import campaigns as cf
from tests.factories import consent as consent_factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limit() -> None:
    cache.clear()


@pytest.fixture
def shop() -> Store:
    return factories.store(name="Södermalm")


@pytest.fixture
def member() -> Member:
    return factories.member_with_user(first_name="Karin", last_name="Lind")


def _scan(client: Client, path: str):  # type: ignore[no-untyped-def]
    """What the phone does: open the poster's address; its page sends the check-in form by
    itself (static/js/door.js), and the answer leads back to the page."""
    page = client.get(path)
    if page.status_code != 200 or b"data-door-autosubmit" not in page.content:
        return page
    return client.post(path, follow=True)


def _client(member: Member, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(member.user)
    client.cookies["django_language"] = language
    return client


def test_a_member_who_scans_the_poster_is_checked_in_once_a_day(
    shop: Store, member: Member
) -> None:
    EventRule.objects.create(
        event=EventRule.Event.CHECK_IN, points=25, name_sv="Besök", name_en="Visit"
    )
    client = _client(member)
    response = _scan(client, store_door_path(shop))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Welcome, Karin! You are checked in at Södermalm." in page
    assert "You earned 25 points for your visit." in page
    event = ActivityEvent.objects.get(member=member, kind=Kind.CHECKED_IN)
    assert event.source == "door"
    # scanning again the same day checks in no more and earns nothing, even if the page
    # sends the form again (an old tab, a double tap)
    page = _scan(client, store_door_path(shop)).content.decode()
    assert "You had already checked in here today." in page
    page = client.post(store_door_path(shop), follow=True).content.decode()
    assert "You had already checked in here today." in page
    assert "You earned" not in page
    assert CheckIn.objects.filter(member=member).count() == 1


def test_the_desk_and_the_door_share_one_visit(shop: Store, member: Member) -> None:
    staff = factories.staff_user(role=STORE_STAFF)
    from rewards.rules.events import checkin_record_by_staff

    checkin_record_by_staff(member=member, store=shop, staff=staff)
    page = _scan(_client(member), store_door_path(shop)).content.decode()
    assert "You had already checked in here today." in page
    assert CheckIn.objects.filter(member=member).count() == 1


def test_a_member_not_logged_in_logs_in_and_is_then_checked_in(shop: Store, member: Member) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    path = store_door_path(shop)
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
    assert not CheckIn.objects.exists()
    response = client.post(
        reverse("account_login"),
        {"login": member.user.email, "password": "correct-horse-battery", "next": path},
    )
    assert response.status_code == 302
    assert response["Location"] == path
    assert 'data-testid="door-welcome"' in _scan(client, path).content.decode()
    assert CheckIn.objects.filter(member=member, store=shop).count() == 1


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ("forged", 404, "This door code is not valid."),
        ("rotated", 410, "This poster is no longer in use."),
        ("closed", 410, "This poster is no longer in use."),
    ],
)
def test_a_bad_door_code_says_so_and_checks_nobody_in(
    shop: Store, member: Member, change: str, status: int, message: str
) -> None:
    token = store_door_token(shop)
    if change == "forged":
        token = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    elif change == "rotated":
        from members.services import store_door_key_rotate

        store_door_key_rotate(store=shop)
    else:
        Store.objects.filter(pk=shop.pk).update(status=Store.Status.CLOSED)
    for method in ("get", "post"):
        response = getattr(_client(member), method)(reverse("campaigns:door", args=[token]))
        assert response.status_code == status
        assert message in response.content.decode()
    assert not CheckIn.objects.exists()


def test_opening_the_address_alone_checks_nobody_in(shop: Store, member: Member) -> None:
    """A link preview, a prefetch or a crawler only GETs: the check-in is the page's POST."""
    page = _client(member).get(store_door_path(shop)).content.decode()
    assert "data-door-autosubmit" in page
    assert not CheckIn.objects.exists()


def test_a_store_code_cannot_be_made_up_from_another_store(shop: Store, member: Member) -> None:
    other = factories.store(name="Kungsholmen")
    forged = store_door_token(shop).replace(f"{shop.pk}.", f"{other.pk}.", 1)
    response = _client(member).post(reverse("campaigns:door", args=[forged]))
    assert response.status_code == 404
    assert not CheckIn.objects.exists()


def test_scans_are_rate_limited(shop: Store, member: Member, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DOOR_SCANS_PER_MINUTE = 3
    client = _client(member)
    statuses = [client.post(store_door_path(shop)).status_code for _ in range(4)]
    assert statuses[:3] == [302, 302, 302]
    assert statuses[3] == 429


def test_the_swedish_page_speaks_swedish(shop: Store, member: Member) -> None:
    page = _scan(_client(member, "sv"), store_door_path(shop)).content.decode()
    assert "Välkommen, Karin! Du är incheckad på Södermalm." in page


def test_todays_invitation_ticket_is_the_offer_shown(shop: Store, member: Member) -> None:
    rf.earned(member, 500)
    today_evening = timezone.localtime().replace(hour=18, minute=30)
    invitation = rf.reward(
        code="kvall",
        kind=Reward.Kind.INVITATION,
        name_sv="Löparkväll",
        name_en="Running evening",
        amount_off_ore=None,
        event_starts_at=today_evening,
        points_cost=100,
    )
    rf.claim(member, invitation)
    consent_factories.granted(member, "profiling")
    page = _scan(_client(member), store_door_path(shop)).content.decode()
    assert 'data-testid="door-offer"' in page
    assert "Löparkväll" in page  # in the member's language
    assert "Your ticket for today at 18:30" in page


def test_the_next_best_offer_only_with_consent_to_personal_offers(
    shop: Store, member: Member
) -> None:
    from tests.factories.personalisation import recommendation_with_every_field

    recommendation_with_every_field(member)
    assert MemberRecommendation.objects.filter(member=member).exists()
    client = _client(member)
    page = _scan(client, store_door_path(shop)).content.decode()
    assert "Regnjacka" not in page
    assert 'data-testid="door-offer"' not in page
    consent_factories.granted(member, "profiling")
    page = client.get(store_door_path(shop)).content.decode()
    assert "Regnjacka" in page


@pytest.mark.django_db(transaction=True)
def test_two_phones_scanning_at_once_make_one_check_in(shop: Store, member: Member) -> None:
    EventRule.objects.create(
        event=EventRule.Event.CHECK_IN, points=25, name_sv="Besök", name_en="Visit"
    )
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def scan() -> None:
        try:
            barrier.wait()
            checkin_record_at_door(member=Member.objects.get(pk=member.pk), store=shop)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=scan) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert CheckIn.objects.filter(member=member).count() == 1
    from rewards.selectors import balance_get

    balance = balance_get(member=member)
    assert balance["available"] + balance["pending"] == 25


def test_the_poster_is_a_printable_svg_with_the_stores_name(shop: Store) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(factories.staff_user(role=STORE_STAFF))
    response = client.get(reverse("admin:members_store_door_poster", args=[shop.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    root = ET.fromstring(response.content)  # noqa: S314 - our own server's answer
    assert root.get("width") == "210mm"
    text = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
    assert "Södermalm" in text
    assert "Skanna med mobilens kamera för att checka in" in text


def test_a_new_door_code_retires_every_printed_poster(shop: Store, member: Member) -> None:
    old = store_door_path(shop)
    staff = Client()
    staff.force_login(factories.staff_user(role=STORE_STAFF))
    url = reverse("admin:members_store_door_code", args=[shop.pk])
    assert staff.post(url).status_code == 403  # store staff may print, not retire
    admin_client = Client()
    admin_client.force_login(factories.staff_user(role=ADMINISTRATOR))
    assert admin_client.get(url).status_code == 405
    response = admin_client.post(url)
    assert response.status_code == 302
    shop.refresh_from_db()
    assert store_door_path(shop) != old
    assert _client(member).post(old).status_code == 410
    assert _client(member).post(store_door_path(shop)).status_code == 302
    assert CheckIn.objects.filter(member=member).count() == 1


def test_each_store_has_its_own_door_key() -> None:
    keys = {factories.store().door_key for _ in range(3)}
    assert len(keys) == 3
    assert all(len(key) == 16 for key in keys)


def _checkin_campaign(member: Member, *, title_en: str = "Coffee on us today") -> Campaign:
    """A launched campaign triggered by a check-in: an on-site message with an offer (shown
    in the language of the member, who reads English here)."""
    Member.objects.filter(pk=member.pk).update(preferred_language=Member.Language.ENGLISH)
    member.refresh_from_db()
    offer = cf.offer(
        kind=Offer.Kind.BONUS_POINTS,
        title_en=title_en,
        title_sv="Kaffe på oss i dag",
        category=Category.objects.get_or_create(code="coffee", defaults={"name": "Kaffe"})[0],
    )
    campaign = cf.campaign(
        schedule_kind="trigger", trigger="checked_in", channels=["onsite"], offer_obj=offer
    )
    campaign_launch(campaign=campaign, actor=None)
    return campaign


def test_a_campaign_triggered_by_the_check_in_brings_its_offer_to_the_welcome_page(
    shop: Store, member: Member, django_capture_on_commit_callbacks
) -> None:
    _checkin_campaign(member)
    consent_factories.granted(member, "profiling")
    # a member whose contact budget for the week is spent still gets the offer: it is shown
    # on the page the member opened, not sent as a marketing message
    ContactBudget.objects.create(member=member, week=week_of(timezone.now()), used=99)
    client = _client(member)
    with django_capture_on_commit_callbacks(execute=True):
        _scan(client, store_door_path(shop))
    page = client.get(store_door_path(shop)).content.decode()
    assert 'data-testid="door-offer"' in page
    assert "Coffee on us today" in page
    assert "data-door-offer-poll" not in page  # already here: nothing to wait for
    assert "Activate" in page  # a bonus offer starts counting once activated
    delivery = Delivery.objects.get(member=member)
    assert (delivery.channel, delivery.status) == ("onsite", Delivery.Status.SENT)
    assert ContactBudget.objects.get(member=member).used == 99


def test_the_welcome_page_waits_for_the_workers_offer_and_then_shows_it(
    shop: Store, member: Member, django_capture_on_commit_callbacks
) -> None:
    _checkin_campaign(member)
    consent_factories.granted(member, "profiling")
    client = _client(member)
    part = reverse("campaigns:door-offer", args=[store_door_token(shop)])
    nothing = client.get(part)  # not checked in here today: nothing is coming
    assert (nothing.status_code, nothing.content) == (200, b"")
    # the check-in is recorded, its timeline event not yet handled (as before the worker)
    with activity_dispatch(Dispatch.OFF):
        _scan(client, store_door_path(shop))
    page = client.get(store_door_path(shop)).content.decode()
    assert f'data-door-offer-poll="{part}"' in page
    assert "on its way" in page
    assert client.get(part).status_code == 204
    # then the worker handles the event: the campaign sends the on-site offer
    event = ActivityEvent.objects.get(member=member, kind=Kind.CHECKED_IN)
    with django_capture_on_commit_callbacks(execute=True):
        trigger_event_handle(event)
    answer = client.get(part)
    assert answer.status_code == 200
    assert 'data-testid="door-visit-offer"' in answer.content.decode()
    assert "Coffee on us today" in answer.content.decode()


def test_without_consent_to_personal_offers_no_offer_is_on_its_way(
    shop: Store, member: Member, django_capture_on_commit_callbacks
) -> None:
    _checkin_campaign(member)
    client = _client(member)
    with django_capture_on_commit_callbacks(execute=True):
        _scan(client, store_door_path(shop))
    page = client.get(store_door_path(shop)).content.decode()
    assert "Coffee on us today" not in page
    assert "data-door-offer-poll" not in page
    part = reverse("campaigns:door-offer", args=[store_door_token(shop)])
    nothing = client.get(part)
    assert (nothing.status_code, nothing.content) == (200, b"")
    assert Delivery.objects.get(member=member).reason == "no_consent"
    assert not MemberOffer.objects.filter(member=member).exists()


def _worker_sends_between_the_reads(
    member: Member,
    capture,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    """The worker handles the member's check-in (its campaign sends the on-site offer, and
    commits) while a request is between its two reads: inside "is an offer on its way?"."""
    import campaigns.door

    event = ActivityEvent.objects.get(member=member, kind=Kind.CHECKED_IN)
    coming = campaigns.door.triggered_offer_coming

    def worker_commits_meanwhile(who: Member) -> bool:
        if not Delivery.objects.filter(member=who).exists():
            with capture(execute=True):
                trigger_event_handle(event)
        return coming(who)

    monkeypatch.setattr(campaigns.door, "triggered_offer_coming", worker_commits_meanwhile)


def test_an_offer_the_worker_brings_between_the_pages_two_reads_is_not_lost(
    shop: Store, member: Member, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    # Given a member checked in, whose triggered offer the worker has not sent yet
    _checkin_campaign(member)
    consent_factories.granted(member, "profiling")
    client = _client(member)
    with activity_dispatch(Dispatch.OFF):
        _scan(client, store_door_path(shop))
    _worker_sends_between_the_reads(member, django_capture_on_commit_callbacks, monkeypatch)

    # When the page asks for the offer, and the page is opened again
    part = reverse("campaigns:door-offer", args=[store_door_token(shop)])
    answer = client.get(part)
    page = client.get(store_door_path(shop)).content.decode()

    # Then the answer carries the offer (not "none is coming", which ends the page's asking)
    assert answer.status_code == 200
    assert "Coffee on us today" in answer.content.decode()
    assert "Coffee on us today" in page


def test_the_welcome_page_shows_an_offer_the_worker_brings_between_its_reads(
    shop: Store, member: Member, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    _checkin_campaign(member)
    consent_factories.granted(member, "profiling")
    client = _client(member)
    with activity_dispatch(Dispatch.OFF):
        _scan(client, store_door_path(shop))
    _worker_sends_between_the_reads(member, django_capture_on_commit_callbacks, monkeypatch)

    page = client.get(store_door_path(shop)).content.decode()

    # the offer is on the page, or on its way: never neither
    assert "Coffee on us today" in page or "data-door-offer-poll" in page
