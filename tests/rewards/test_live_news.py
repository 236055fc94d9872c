"""Live news (issue 16, "Live after a purchase"): ``/mina-sidor/nytt/?efter=<cursor>`` gives
the logged-in member their own timeline news since the cursor and the balance, cheaply and
never cached (rewards.live, docs/member-pages.md "Live updates")."""

from __future__ import annotations

import datetime
import re

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from members.activity import Kind, activity_consume
from members.models import ActivityEvent
from rewards.ledger.points import points_adjust
from rewards.models import Badge, Challenge
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db

URL = "/mina-sidor/nytt/"


def _client(member, language: str = "en") -> Client:
    client = Client(headers={"accept-language": language})
    client.force_login(member.user)
    return client


def _poll(client: Client, cursor: int | str = 0) -> dict:
    response = client.get(URL, {"efter": cursor})
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


def _buy(store, member, price_ore: int = 12000) -> None:
    rf.purchase(store=store, member=member, lines=[rf.line("SKU-1", 1, price_ore)])


def _latest(member, kind: str) -> ActivityEvent:
    event = ActivityEvent.objects.filter(member=member, kind=kind).order_by("-pk").first()
    assert event is not None
    return event


@pytest.fixture
def rule(db):
    return rf.base_rule()


def test_a_purchase_shows_as_points_in_the_store_with_the_new_balance(member, store, rule):
    # given a member with 500 points to use and an open page (its cursor)
    rf.earned(member, 500)
    client = _client(member)
    cursor = _poll(client)["cursor"]

    # when the till records a purchase of 120 kr (1 point per krona, pending for 14 days)
    _buy(store, member, 12000)

    # then the next poll tells of it in the member's language, with the balance
    body = _poll(client, cursor)
    [event] = body["events"]
    assert event["text"] == "+120 points in Drottninggatan"
    assert event["kind"] == "purchased"
    assert re.fullmatch(r"\d\d:\d\d", event["time"])
    assert body["balance"]["available"] == 500
    assert body["balance"]["pending"] == 120
    assert body["balance"]["pending_text"] == "120 points pending"
    assert body["balance"]["text"] == "You now have 500 points to use. 120 points pending."
    assert body["cursor"] == _latest(member, Kind.PURCHASED).pk

    # and the poll after that has nothing new, the same cursor and the same balance
    again = _poll(client, body["cursor"])
    assert again["events"] == []
    assert again["cursor"] == body["cursor"]
    assert again["balance"]["pending"] == 120


def test_only_the_members_own_news_whatever_the_cursor(member, store, rule):
    # given another member who shops in the same store, before and after
    other = factories.member_with_user(first_name="Bo", last_name="Berg")
    _buy(store, other, 99900)
    _buy(store, member, 12000)
    _buy(store, other, 55500)

    # when the member asks from the very beginning
    body = _poll(_client(member), 0)

    # then only their own purchase and balance are in the answer
    assert [e["text"] for e in body["events"]] == ["+120 points in Drottninggatan"]
    assert body["balance"]["pending"] == 120
    # (the other member's 999 and 555 points appear in no text or amount; ids are left out
    # because a database id may well contain the same digits)
    said = [v for e in body["events"] for k, v in e.items() if k != "id"]
    said += list(body["balance"].values())
    assert not [v for v in said if "999" in str(v) or "555" in str(v)]
    # and the other member's newer event id does not become the member's cursor
    assert body["cursor"] == _latest(member, Kind.PURCHASED).pk


def test_a_completed_challenge_names_the_challenge_and_its_badge(member, store, rule):
    # given a challenge "first purchase" for 200 points and a badge
    badge = Badge.objects.create(code="forsta", name_sv="Första köpet", name_en="First purchase")
    Challenge.objects.create(
        code="forsta",
        kind=Challenge.Kind.PURCHASES,
        name_sv="Handla en gång",
        name_en="Shop once",
        target=1,
        points=200,
        badge=badge,
        starts_at=timezone.now() - datetime.timedelta(days=1),
    )
    client = _client(member)
    cursor = _poll(client)["cursor"]

    # when a purchase is recorded and the worker consumes it (the challenge completes)
    _buy(store, member, 5000)
    first = _poll(client, cursor)
    activity_consume(event_id=_latest(member, Kind.PURCHASED).pk)

    # then the purchase came first, and the completion on the next poll, with the badge
    assert [e["text"] for e in first["events"]] == ["+50 points in Drottninggatan"]
    body = _poll(client, first["cursor"])
    [event] = body["events"]
    assert event["text"] == "Challenge complete: +200 points"
    assert event["detail"] == "Shop once"
    assert event["badge"]["name"] == "First purchase"
    assert event["badge"]["text"] == "New badge: First purchase"
    assert body["balance"]["available"] == 200
    assert body["balance"]["available_text"] == "200"


def test_a_challenges_progress_is_told_when_the_page_asks_for_it(member, store, rule):
    # given a challenge "shop three times" on the member's open page
    three = Challenge.objects.create(
        code="tre",
        kind=Challenge.Kind.PURCHASES,
        name_sv="Handla tre gånger",
        name_en="Shop three times",
        target=3,
        points=300,
        starts_at=timezone.now() - datetime.timedelta(days=1),
    )
    other = factories.member_with_user(first_name="Bo", last_name="Berg")
    client = _client(member)
    # nothing started yet: no progress to tell
    assert client.get(URL, {"efter": 0, "utmaningar": three.pk}).json()["challenges"] == []

    # when the member buys once, someone else twice, and the worker counts the purchases
    _buy(store, member, 5000)
    _buy(store, other, 5000)
    _buy(store, other, 5000)
    for event in ActivityEvent.objects.filter(kind=Kind.PURCHASED):
        activity_consume(event_id=event.pk)

    # then the member's poll carries their own progress and the steps left in their words
    body = client.get(URL, {"efter": 0, "utmaningar": f"{three.pk},999999"}).json()
    assert body["challenges"] == [
        {"id": three.pk, "progress": 1, "completed": False, "left": "2 steps left"}
    ]
    swedish = _client(member, "sv").get(URL, {"efter": 0, "utmaningar": three.pk}).json()
    assert swedish["challenges"][0]["left"] == "2 steg kvar"
    # and a poll that does not ask carries none
    assert "challenges" not in _poll(client, 0)


@pytest.mark.parametrize("wanted", ["a", "1,,2", "-1", ",".join(["1"] * 11)])
def test_a_bad_challenge_list_is_a_clear_400(member, wanted):
    response = _client(member).get(URL, {"efter": 0, "utmaningar": wanted})
    assert response.status_code == 400
    assert response.json()["error"] == (
        "?utmaningar= takes up to 10 challenge numbers separated by commas."
    )


def test_returns_and_staff_adjustments_read_with_a_minus_sign(member, store, rule):
    staff = factories.staff_user()
    client = _client(member)
    cursor = _poll(client)["cursor"]
    points_adjust(member=member, points=1500, reason="Goodwill", actor=staff, idempotency_key="a1")
    points_adjust(member=member, points=-40, reason="Fel", actor=staff, idempotency_key="a2")
    texts = [e["text"] for e in _poll(client, cursor)["events"]]
    assert texts == ["+1,500 points from customer service", "\u221240 points from customer service"]


def test_swedish_news_groups_thousands_with_a_space(member, store, rule):
    _buy(store, member, 1234500)
    body = _poll(_client(member, "sv"), 0)
    assert body["events"][0]["text"].startswith("+12\u00a0345 ")
    assert body["balance"]["pending_text"].startswith("12\u00a0345 ")


def test_news_older_than_the_window_is_not_announced(member, store, rule):
    # given a purchase two hours ago (the page was closed then)
    with time_machine.travel(timezone.now() - datetime.timedelta(hours=2)):
        _buy(store, member, 12000)
    # then a page opened now has nothing to announce, but the balance counts it
    body = _poll(_client(member), 0)
    assert body["events"] == []
    assert body["cursor"] == 0
    assert body["balance"]["pending"] == 120


def test_two_queries_per_poll_and_one_more_for_a_challenges_name(
    member, store, rule, django_assert_max_num_queries
):
    # given a member with a year of purchases, 30 of them in the last hour
    now = timezone.now()
    for n in range(60):
        with time_machine.travel(now - datetime.timedelta(days=360 - n * 6)):
            _buy(store, member, 1000 + n)
    for _n in range(30):
        _buy(store, member, 1000)
    client = _client(member)
    _poll(client, 0)  # warm: the session's and the login's caches

    # then a poll is the session, the login with its member, the events and the balance
    with django_assert_max_num_queries(4):
        body = _poll(client, 0)
    assert len(body["events"]) == 20  # the newest 20 of the last hour
    with django_assert_max_num_queries(4):
        assert _poll(client, body["cursor"])["events"] == []


def test_never_cached_anywhere(member):
    response = _client(member).get(URL, {"efter": "0"})
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"private", "no-store"} <= cache_control
    assert "Cookie" in response["Vary"]


def test_logged_out_is_sent_to_the_login_page_as_on_every_member_page():
    response = Client().get(URL, {"efter": "0"})
    assert response.status_code == 302
    assert response["Location"].startswith("/konto/login/")
    assert "no-store" in response["Cache-Control"]


def test_staff_without_a_membership_are_sent_to_the_back_office(db):
    client = Client()
    client.force_login(factories.staff_user())
    response = client.get(URL, {"efter": "0"})
    assert response.status_code == 302
    assert response["Location"] == "/admin/"


def test_only_get(member):
    assert _client(member).post(URL, {"efter": "0"}).status_code == 405


@pytest.mark.parametrize("cursor", ["", "abc", "-1", "1.5", "١٢", str(2**63)])
def test_a_bad_cursor_is_a_clear_400(member, cursor):
    response = _client(member).get(URL, {"efter": cursor})
    assert response.status_code == 400
    assert "?efter=" in response.json()["error"]


def test_the_pages_carry_the_live_region_and_their_cursor(member, store, rule):
    _buy(store, member, 12000)
    client = _client(member)
    latest = _latest(member, Kind.PURCHASED).pk
    for path in ("/mina-sidor/", "/mina-sidor/poang/"):
        html = client.get(path).content.decode()
        assert 'aria-live="polite"' in html
        assert f'data-cursor="{latest}"' in html, path
        assert 'data-url="/mina-sidor/nytt/"' in html
        assert "js/live.js" in html
