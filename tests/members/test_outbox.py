"""The transactional outbox (members.outbox, docs/webhooks.md): every public event type is
written by the real service that makes the change, in its transaction, with the documented
shape; a rolled-back change writes nothing; an erased member's events keep ids only."""

from __future__ import annotations

import datetime
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign
from campaigns.sending.fanout import campaign_finish_if_done
from consent.services.erasure import member_anonymise
from members.merging import member_merge
from members.models import Member, OutboxEvent
from members.outbox import (
    EVENT_TYPES,
    event_payload,
    event_visible,
    outbox_committed_hooks,
    outbox_emit,
    outbox_on_commit_register,
    outbox_purge,
)
from members.services import member_create, member_update_profile
from rewards.ledger.points import points_adjust
from rewards.loyalty.catalogue import voucher_redeem
from rewards.loyalty.tiers import tier_evaluate
from rewards.models import Voucher
from rewards.purchases.returns import purchase_return
from rewards.rules.events import checkin_record
from tests import factories
from tests.factories import campaigns as cf
from tests.factories import consent as consentf
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db

MEMBER_KEYS = {"member_id", "membership_number", "store"}


def _last(type_: str) -> OutboxEvent:
    event = (
        OutboxEvent.objects.filter(type=type_).select_related("member", "store").order_by("-id")
    ).first()
    assert event is not None, f"no {type_} event"
    return event


def _assert_shape(event: OutboxEvent) -> dict[str, Any]:
    """The payload has the catalogue's keys exactly, ids where ids are documented."""
    body = event_payload(event)
    spec = EVENT_TYPES[event.type]
    assert set(body) == {"id", "type", "version", "occurred_at", "data"}
    assert body["id"] == f"msg_{event.uuid.hex}"
    assert body["type"] == event.type
    assert body["version"] == 1
    datetime.datetime.fromisoformat(body["occurred_at"])
    expected = set(spec.example) | ({"store"} if not spec.member_bound else MEMBER_KEYS)
    assert set(body["data"]) == expected, event.type
    for key, value in body["data"].items():
        if key.endswith("_id") and key != "receipt_id" and value is not None:
            assert isinstance(value, int), (event.type, key, value)
    return body


def test_every_type_in_the_catalogue_has_a_description_scope_and_example():
    assert set(EVENT_TYPES) == {
        "member.joined",
        "member.updated",
        "member.merged",
        "member.erased",
        "purchase.recorded",
        "purchase.returned",
        "points.changed",
        "tier.changed",
        "voucher.issued",
        "voucher.redeemed",
        "consent.changed",
        "checkin.recorded",
        "campaign.completed",
    }
    for spec in EVENT_TYPES.values():
        assert str(spec.description)
        assert spec.scope


def test_member_events_come_from_the_member_services(store):
    member = member_create(
        first_name="Ella", last_name="Berg", home_store=store, join_channel="store"
    )
    body = _assert_shape(_last("member.joined"))
    assert body["data"]["member_id"] == member.pk
    assert body["data"]["membership_number"] == member.membership_number
    assert body["data"]["channel"] == "store"
    assert body["data"]["store"] == store.code

    member_update_profile(member=member, actor=None, phone="0701234567", postcode="11122")
    body = _assert_shape(_last("member.updated"))
    assert set(body["data"]["fields"]) == {"phone", "postcode"}
    assert "0701234567" not in str(body)
    assert "11122" not in str(body)

    other = member_create(first_name="Ella", last_name="Berg")
    merge = member_merge(survivor_id=member.pk, merged_id=other.pk)
    body = _assert_shape(_last("member.merged"))
    assert body["data"] == body["data"] | {
        "member_id": member.pk,
        "merge_id": merge.pk,
        "merged_member_id": other.pk,
    }


def test_member_erased_is_emitted_and_the_events_keep_ids_only(store):
    member = member_create(first_name="Ella", last_name="Berg", phone="0701234567")
    number = member.membership_number
    rf.purchase(store=store, member=member)
    assert member_anonymise(member_id=member.pk)

    body = _assert_shape(_last("member.erased"))
    assert body["data"]["member_id"] == member.pk
    assert body["data"]["membership_number"] is None  # rendered from the erased row: gone
    # no event of the member carries their number, name or phone any more
    for event in OutboxEvent.objects.filter(member_id=member.pk).select_related("member", "store"):
        text = str(event_payload(event)) + str(event.data)
        for personal in (number, "Ella", "Berg", "0701234567"):
            assert personal not in text, (event.type, personal)


def test_erasing_a_survivor_tells_receivers_about_the_merged_member_too():
    survivor = member_create(first_name="Ella", last_name="Berg")
    merged = member_create(first_name="Ella", last_name="Berg")
    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)
    assert member_anonymise(member_id=survivor.pk)
    erased = OutboxEvent.objects.filter(type="member.erased")
    assert sorted(erased.values_list("member_id", flat=True)) == sorted([survivor.pk, merged.pk])
    assert not member_anonymise(member_id=survivor.pk)  # a second run: nothing new
    assert erased.count() == 2


def test_purchase_points_and_return_events_from_the_till_statement(store):
    rf.base_rule()
    member = factories.member_with_user()
    result = rf.purchase(
        store=store, member=member, lines=[rf.line("SKU-1", 2, 10000)], receipt_id="R-OUT-1"
    )
    purchase = result.purchase
    body = _assert_shape(_last("purchase.recorded"))
    assert (
        body["data"]
        | {
            "purchase_id": purchase.pk,
            "receipt_id": "R-OUT-1",
            "total_ore": 20000,
            "points_earned": purchase.points_earned,
            "store": store.code,
            "member_id": member.pk,
        }
        == body["data"]
    )
    assert purchase.points_earned > 0
    points = _assert_shape(_last("points.changed"))
    assert points["data"]["purchase_id"] == purchase.pk
    assert points["data"]["kind"] == "earn"
    assert points["data"]["points"] == purchase.points_earned

    ret, _replayed = purchase_return(store=store, receipt_id="R-OUT-1", return_id="RET-1")
    body = _assert_shape(_last("purchase.returned"))
    assert body["data"]["return_id"] == ret.pk
    assert body["data"]["purchase_id"] == purchase.pk
    assert body["data"]["points_reversed"] == ret.points_reversed > 0
    assert _last("points.changed").data["kind"] == "reverse"


def test_a_purchase_without_a_member_is_recorded_without_one(store):
    rf.purchase(store=store, member=None, receipt_id="R-ANON")
    body = _assert_shape(_last("purchase.recorded"))
    assert body["data"]["member_id"] is None
    assert body["data"]["membership_number"] is None
    assert not OutboxEvent.objects.filter(type="points.changed").exists()
    purchase_return(store=store, receipt_id="R-ANON", return_id="RET-ANON")
    assert _assert_shape(_last("purchase.returned"))["data"]["member_id"] is None


def test_points_tier_voucher_consent_checkin_events(store):
    member = factories.member_with_user()
    points_adjust(member=member, points=250, reason="Goodwill", idempotency_key="adj-1", actor=None)
    body = _assert_shape(_last("points.changed"))
    assert (body["data"]["kind"], body["data"]["points"]) == ("adjust", 250)

    ladder = rf.ladder()
    rf.earned(member, 1200)
    tier_evaluate(member_id=member.pk)
    body = _assert_shape(_last("tier.changed"))
    assert body["data"]["to_tier"] == ladder["silver"].code

    reward = rf.reward(points_cost=100)
    rf.claim(member, reward)
    body = _assert_shape(_last("voucher.issued"))
    voucher = Voucher.objects.get(member=member)
    assert body["data"]["voucher_id"] == voucher.pk
    assert body["data"]["reward_id"] == reward.pk

    voucher_redeem(code=voucher.code, store=store, idempotency_key="use-1")
    body = _assert_shape(_last("voucher.redeemed"))
    assert body["data"]["voucher_id"] == voucher.pk
    assert body["data"]["store"] == store.code

    consentf.granted(member, "marketing_email")
    body = _assert_shape(_last("consent.changed"))
    assert (body["data"]["purpose"], body["data"]["granted"]) == ("marketing_email", True)
    consentf.withdrawn(member, "marketing_email")
    assert _assert_shape(_last("consent.changed"))["data"]["granted"] is False

    checkin, _entries = checkin_record(member=member, store=store, idempotency_key="door-1")
    body = _assert_shape(_last("checkin.recorded"))
    assert body["data"]["checkin_id"] == checkin.pk


def test_campaign_completed_carries_counts_only():
    campaign = cf.campaign()
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    assert campaign_finish_if_done(campaign_id=campaign.pk)
    body = _assert_shape(_last("campaign.completed"))
    assert body["data"]["campaign_id"] == campaign.pk
    assert body["data"]["deliveries"] == {}
    assert _last("campaign.completed").member_id is None
    # a second call finds the campaign done: no second event
    assert not campaign_finish_if_done(campaign_id=campaign.pk)
    assert OutboxEvent.objects.filter(type="campaign.completed").count() == 1


@pytest.mark.fault
@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_emits_nothing_and_a_committed_one_reaches_the_hooks(store):
    seen: list[list[int]] = []
    outbox_on_commit_register(seen.append)
    try:
        rf.base_rule()
        member = factories.member_with_user()
        before = OutboxEvent.objects.count()
        seen.clear()

        class Boom(Exception):
            pass

        def change_then_fail() -> None:
            with transaction.atomic():
                rf.purchase(store=store, member=member, receipt_id="R-ROLLBACK")
                member_update_profile(member=member, actor=None, postcode="11122")
                assert OutboxEvent.objects.count() > before  # written, inside the transaction
                raise Boom

        with pytest.raises(Boom):
            change_then_fail()
        assert OutboxEvent.objects.count() == before
        assert seen == []

        rf.purchase(store=store, member=member, receipt_id="R-COMMIT")
        committed = list(
            OutboxEvent.objects.filter(id__gt=0).order_by("-id").values_list("id", flat=True)[:2]
        )
        assert sorted(i for ids in seen for i in ids) == sorted(committed)
        assert {e.type for e in OutboxEvent.objects.filter(pk__in=committed)} == {
            "purchase.recorded",
            "points.changed",
        }
    finally:
        outbox_committed_hooks.remove(seen.append)


def test_outbox_emit_refuses_an_unknown_type_and_a_hook_failure_is_contained(
    member, django_capture_on_commit_callbacks
):
    with pytest.raises(ValueError, match="Unknown event type"):
        outbox_emit("member.exploded", member=member, data={})

    def broken(ids: list[int]) -> None:
        raise RuntimeError("dispatcher down")

    seen: list[list[int]] = []
    outbox_on_commit_register(broken)
    outbox_on_commit_register(seen.append)
    try:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            event = outbox_emit("member.updated", member=member, data={"fields": []})
        assert seen == [[event.pk]]  # the hook after the broken one still ran
        assert OutboxEvent.objects.filter(pk=event.pk).exists()
    finally:
        outbox_committed_hooks.remove(broken)
        outbox_committed_hooks.remove(seen.append)


def test_the_beat_tasks_sequence_and_purge(member):
    from members import tasks

    with transaction.atomic():
        event = outbox_emit("member.updated", member=member, data={"fields": []})
    assert OutboxEvent.objects.get(pk=event.pk).position is None
    assert tasks.outbox_sequence() >= 1
    assert OutboxEvent.objects.get(pk=event.pk).position is not None
    assert tasks.outbox_purge() == 0


def test_visibility_by_scope_and_store(store):
    other = factories.store(code="other")
    member = factories.member_with_user()
    with transaction.atomic():
        purchase = outbox_emit("purchase.recorded", member=member, store=other, data={})
        joined = outbox_emit("member.joined", member=member, store=other, data={})
    assert not event_visible(purchase, scopes=["events:read"], store_id=store.pk)
    assert not event_visible(purchase, scopes=["purchases:read"], store_id=store.pk)
    assert event_visible(purchase, scopes=["purchases:read"], store_id=other.pk)
    assert event_visible(
        purchase, scopes=["purchases:read", "events:all_stores"], store_id=store.pk
    )
    assert event_visible(joined, scopes=["members:read"], store_id=store.pk)
    assert not event_visible(joined, scopes=["purchases:read"], store_id=store.pk)


def test_purge_keeps_recent_events_and_the_feed_head(member):
    old = timezone.now() - datetime.timedelta(days=40)
    with transaction.atomic():
        a = outbox_emit("member.updated", member=member, data={"fields": []}, occurred_at=old)
        b = outbox_emit("member.updated", member=member, data={"fields": []}, occurred_at=old)
        c = outbox_emit("member.updated", member=member, data={"fields": []})
    from members.outbox import outbox_sequence

    outbox_sequence()
    assert outbox_purge(keep_days=30) == 2
    assert set(
        OutboxEvent.objects.filter(pk__in=[a.pk, b.pk, c.pk]).values_list("pk", flat=True)
    ) == {c.pk}
    # all old, the newest stays: positions never restart
    OutboxEvent.objects.update(occurred_at=old)
    head = OutboxEvent.objects.order_by("-position").first()
    assert head is not None
    outbox_purge(keep_days=30)
    assert list(OutboxEvent.objects.values_list("pk", flat=True)) == [head.pk]


@pytest.mark.django_db(transaction=True)
def test_purge_goes_in_batches_and_skips_an_event_another_transaction_holds(monkeypatch):
    """A purge locks its batch in id order and skips what a writer holds (an erasure scrubbing
    the member's events): it never waits on, or deadlocks with, the writers beside it."""
    import threading

    from django.db import connection

    from members import outbox

    member = factories.member_with_user(email="purge@example.se")
    old = timezone.now() - datetime.timedelta(days=40)
    with transaction.atomic():
        events = [
            outbox_emit("member.updated", member=member, data={"fields": []}, occurred_at=old)
            for _ in range(5)
        ]
        newest = outbox_emit("member.updated", member=member, data={"fields": []})
    outbox.outbox_sequence()
    monkeypatch.setattr(outbox, "PURGE_BATCH", 2)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                OutboxEvent.objects.select_for_update().get(pk=events[1].pk)
                held.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    try:
        deleted = outbox_purge(keep_days=30)
    finally:
        release.set()
        holder.join()

    mine = [event.pk for event in [*events, newest]]
    assert deleted == 4
    assert set(OutboxEvent.objects.filter(pk__in=mine).values_list("pk", flat=True)) == {
        events[1].pk,
        newest.pk,
    }
    # the next run takes the one that was held
    assert outbox_purge(keep_days=30) == 1
    assert list(OutboxEvent.objects.filter(pk__in=mine).values_list("pk", flat=True)) == [newest.pk]


def test_uuid_is_unique_and_the_webhook_id_stable(member):
    with transaction.atomic():
        events = [
            outbox_emit("member.updated", member=member, data={"fields": []}) for _ in range(3)
        ]
    assert len({e.uuid for e in events}) == 3
    event = OutboxEvent.objects.get(pk=events[0].pk)
    assert event.webhook_id == f"msg_{event.uuid.hex}" == event_payload(event)["id"]
    assert isinstance(event.uuid, uuid.UUID)
    assert Member.objects.filter(pk=member.pk).exists()


def test_the_docs_show_every_type_with_its_catalogue_example():
    text = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    for name, spec in EVENT_TYPES.items():
        found = re.search(rf"### `{re.escape(name)}`\n.*?```json\n(.*?)```", text, re.S)
        assert found, f"docs/webhooks.md has no example of {name}"
        body = json.loads(found.group(1))
        assert body["type"] == name
        assert set(body) == {"id", "type", "version", "occurred_at", "data"}
        expected = set(spec.example) | ({"store"} if not spec.member_bound else MEMBER_KEYS)
        assert set(body["data"]) == expected, name
        assert body["data"] | spec.example == body["data"], name
