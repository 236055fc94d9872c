"""The pull feed GET /api/v1/events/ (docs/webhooks.md "Pull feed"): cursor pages, scoped
like webhooks, never skipping an event whose transaction committed after a later one's, and
exactly one purchase.recorded per purchase under 1,000 concurrent purchases."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection, transaction
from rest_framework.test import APIClient

from members.models import OutboxEvent
from members.outbox import event_payload, outbox_emit, outbox_feed
from rewards.purchases.recording import purchase_record
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db

URL = "/api/v1/events/"


def _client(store: Any, scopes: list[str]) -> APIClient:
    _key, secret = factories.api_key_with_secret(store_obj=store, scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def _emit(n: int, *, type_: str = "member.updated", store: Any = None, member: Any = None):
    with transaction.atomic():
        return [
            outbox_emit(type_, member=member, store=store, data={"fields": [f"f{i}"]})
            for i in range(n)
        ]


def test_pages_follow_the_cursor_and_carry_the_webhook_payload(store, member):
    OutboxEvent.objects.all().delete()  # the member's joining
    events = _emit(7, member=member)
    client = _client(store, ["events:read", "members:read"])
    seen: list[dict[str, Any]] = []
    after = 0
    for expected in (3, 3, 1, 0):
        response = client.get(URL, {"after": after, "limit": 3})
        assert response.status_code == 200, response.content
        body = response.json()
        assert len(body["events"]) == expected
        seen += body["events"]
        assert body["next"] >= after
        after = body["next"]
    assert [e["id"] for e in seen] == [
        event_payload(OutboxEvent.objects.get(pk=e.pk))["id"] for e in events
    ]
    assert seen[0] == event_payload(
        OutboxEvent.objects.select_related("member", "store").get(pk=events[0].pk)
    )
    # nothing new: the same cursor comes back
    assert client.get(URL, {"after": after}).json() == {"events": [], "next": after}


def test_bad_cursor_or_limit_is_refused(store):
    client = _client(store, ["events:read"])
    for params in ({"after": "x"}, {"after": -1}, {"limit": 0}, {"limit": 501}):
        response = client.get(URL, params)
        assert response.status_code == 400, params
        assert response.json()["error"]["code"]


def test_the_feed_needs_events_read(store):
    assert _client(store, ["members:read"]).get(URL).status_code == 403
    assert APIClient().get(URL).status_code == 401


def test_a_key_sees_the_types_its_scopes_allow_and_its_own_stores_purchases(store, member):
    other = factories.store(code="other-store")
    OutboxEvent.objects.all().delete()  # the member's joining
    _emit(1, type_="campaign.completed")
    _emit(1, type_="purchase.recorded", store=store, member=member)
    _emit(1, type_="purchase.recorded", store=other, member=member)
    _emit(1, type_="member.updated", store=other, member=member)

    def types(scopes: list[str]) -> list[tuple[str, str | None]]:
        body = _client(store, scopes).get(URL).json()
        return [(e["type"], e["data"]["store"]) for e in body["events"]]

    assert types(["events:read"]) == [("campaign.completed", None)]
    assert types(["events:read", "purchases:read"]) == [
        ("campaign.completed", None),
        ("purchase.recorded", store.code),
    ]
    assert types(["events:read", "purchases:read", "events:all_stores", "members:read"]) == [
        ("campaign.completed", None),
        ("purchase.recorded", store.code),
        ("purchase.recorded", other.code),
        ("member.updated", other.code),  # about the member: not bound to a store
    ]
    # the cursor moves past the events the key may not see
    body = _client(store, ["events:read", "vouchers:read"]).get(URL).json()
    assert [e["type"] for e in body["events"]] == ["campaign.completed"]
    head = OutboxEvent.objects.order_by("-position").first()
    assert head is not None
    assert body["next"] == head.position


@pytest.mark.django_db(transaction=True)
def test_an_event_committed_late_is_not_skipped(store):
    """Transaction A takes the smaller id and commits after B: a reader who went by id would
    have passed it. The feed gives it a position after B's, so the cursor still reaches it."""
    member = factories.member_with_user()
    a_inserted, a_may_commit = threading.Event(), threading.Event()
    a_ids: list[int] = []
    failures: list[BaseException] = []

    def transaction_a() -> None:
        try:
            with transaction.atomic():
                a_ids.append(
                    outbox_emit("member.updated", member=member, data={"fields": ["a"]}).pk
                )
                a_inserted.set()
                assert a_may_commit.wait(10)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    scopes = ["events:read", "members:read"]
    start, _ = outbox_feed(after=0, limit=100, scopes=scopes, store_id=None)
    cursor = max((e.position or 0 for e in start), default=0)
    thread = threading.Thread(target=transaction_a)
    thread.start()
    assert a_inserted.wait(10)
    with transaction.atomic():
        b = outbox_emit("member.updated", member=member, data={"fields": ["b"]})
    assert a_ids[0] < b.pk

    page, cursor = outbox_feed(after=cursor, limit=100, scopes=scopes, store_id=None)
    assert [e.pk for e in page] == [b.pk]  # A is not committed: not seen, not passed either

    a_may_commit.set()
    thread.join(10)
    assert not failures
    page, _cursor = outbox_feed(after=cursor, limit=100, scopes=scopes, store_id=None)
    assert [e.pk for e in page] == a_ids


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_1000_concurrent_purchases_give_1000_events_and_the_feed_reads_each_once():
    rf.base_rule()
    store = factories.store(code="race-events")
    members = [factories.member_with_user() for _ in range(20)]
    threads, total = 16, 1000
    scopes = ["events:read", "purchases:read"]
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []
    done = threading.Event()
    read: list[int] = []

    def buyer(offset: int) -> None:
        try:
            barrier.wait(timeout=30)
            for n in range(offset, total, threads):
                purchase_record(
                    store=store,
                    receipt_id=f"EV-{n}",
                    member=members[n % len(members)] if n % 5 else None,
                    total_ore=10000,
                    purchased_at=None,
                    lines=[rf.line("SKU-1", 1, 10000)],
                )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def reader() -> None:
        # Reads the feed while the purchases commit, in small pages: every event once.
        try:
            barrier.wait(timeout=30)
            after = 0
            while True:
                finished = done.is_set()
                page, after = outbox_feed(after=after, limit=50, scopes=scopes, store_id=store.pk)
                read.extend(e.pk for e in page if e.type == "purchase.recorded")
                if finished and not page:
                    return
                if not page:
                    time.sleep(0.005)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=buyer, args=(n,)) for n in range(threads)]
    feed = threading.Thread(target=reader)
    for thread in [*pool, feed]:
        thread.start()
    for thread in pool:
        thread.join(120)
    done.set()
    feed.join(60)
    assert not errors, errors[0]

    events = OutboxEvent.objects.filter(type="purchase.recorded")
    assert events.count() == total
    assert len(set(events.values_list("uuid", flat=True))) == total
    assert len(set(events.values_list("data__purchase_id", flat=True))) == total
    assert sorted(read) == sorted(events.values_list("pk", flat=True))
    assert len(read) == len(set(read)) == total
    # every purchase with a member and points also changed their points, once
    assert OutboxEvent.objects.filter(type="points.changed").count() == total - total // 5
