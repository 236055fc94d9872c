"""The sending engine: fan-out, splits, send-time consent, contact budget, priority,
claims, the sweeper, cancelling, channels."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail

from campaigns.authoring import campaign_cancel, campaign_launch
from campaigns.models import Campaign, ContactBudget, Delivery, InboxMessage, ProviderCall
from campaigns.sending import audience
from campaigns.sending.batch import deliveries_send
from campaigns.sending.fanout import campaigns_start_due
from campaigns.sending.sweep import deliveries_sweep
from members.models import Member
from tests import factories
from tests.factories import campaigns as cf
from tests.factories import consent as consent_f

pytestmark = pytest.mark.django_db
STOCKHOLM = ZoneInfo("Europe/Stockholm")
NOON = datetime.datetime(2026, 3, 11, 12, tzinfo=STOCKHOLM)  # a Wednesday


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run a service and every task it queues after commit (Celery is eager in tests)."""

    def _run(fn, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(**kwargs)

    return _run


def _members(n: int, *purposes: str, **fields) -> list[Member]:
    members = [factories.member_with_user(**fields) for _ in range(n)]
    for member in members:
        if purposes:
            consent_f.granted(member, *purposes)
    return members


def _bulk_members(n: int) -> list[int]:
    """Many members quickly: plain rows (the split tests need numbers, not journeys)."""
    start = Member.objects.count()
    Member.objects.bulk_create(
        [
            Member(
                membership_number=f"9{start + i:09d}",
                card_token=f"bulk-{start + i}",
                first_name="Test",
                last_name=str(i),
            )
            for i in range(n)
        ]
    )
    return list(Member.objects.order_by("pk").values_list("pk", flat=True))


def _status(campaign) -> dict[int, tuple[str, str]]:
    return {
        (m, c): (s, r)
        for m, c, s, r in Delivery.objects.filter(campaign=campaign).values_list(
            "member_id", "channel", "status", "reason"
        )
    }


# --- splits ---------------------------------------------------------------------------------


# The campaign simulation (campaigns.selectors.campaign_simulate) reads only: it assigns its
# sample with the Python twins (fanout.bucket, fanout.assign) rather than writing rows. These
# tests hold the twins to the SQL the fan-out writes with, member by member.


def test_hash_bucket_sql_and_python_twins_agree():
    ids = _bulk_members(3000)
    for salt_value in ("7:holdout:", "7:variant:", "123456:sample:"):
        sql = dict(
            Member.objects.filter(pk__in=ids)
            .annotate(b=audience.HashBucket(salt_value))
            .values_list("pk", "b")
        )
        python = {pk: audience.bucket(salt_value, pk) for pk in ids}
        assert sql == python, salt_value
        assert set(python.values()) <= set(range(audience.BUCKETS))


@pytest.mark.parametrize(
    ("holdout", "weights"),
    [
        (0, [("A", 100)]),
        (25, [("A", 1), ("B", 1), ("C", 1)]),
        (5, [("A", 3), ("B", 7), ("C", 13)]),
        (50, [("A", 99), ("B", 1)]),
    ],
)
def test_assign_python_twin_matches_the_fanout_sql(holdout, weights):
    # Given many members and a campaign whose weights do not divide the buckets evenly
    ids = _bulk_members(2500)
    campaign = cf.campaign(holdout_percent=holdout, variants=weights, channels=["noop"])
    variants = list(campaign.variants.order_by("code"))

    # When the fan-out assigns them in SQL
    audience.insert_deliveries(
        campaign=campaign,
        members=Member.objects.all(),
        variants=variants,
        channel="noop",
        occurrence="",
        now=NOON,
    )

    # Then the Python twin gives every one of them the same variant and group
    rows = Delivery.objects.filter(campaign=campaign).values_list(
        "member_id", "variant_id", "status"
    )
    sql = {member_id: (variant_id, status == "control") for member_id, variant_id, status in rows}
    assert len(sql) == len(ids)
    assert sql == {member_id: audience.assign(campaign, variants, member_id) for member_id in ids}
    # and every variant got members (the comparison is not vacuous)
    assert {variant_id for variant_id, _control in sql.values()} == {v.pk for v in variants}


def test_campaign_start_holdout_and_ab_split_are_stable_and_near_the_asked_share(run):
    ids = _bulk_members(4000)
    campaign = cf.campaign(holdout_percent=10, variants=[("A", 70), ("B", 30)], channels=["noop"])
    Campaign.objects.filter(pk=campaign.pk).update(status="sending")
    campaign.refresh_from_db()
    variants = list(campaign.variants.order_by("code"))
    audience.insert_deliveries(
        campaign=campaign,
        members=Member.objects.all(),
        variants=variants,
        channel="noop",
        occurrence="",
        now=NOON,
    )
    rows = list(
        Delivery.objects.filter(campaign=campaign).values_list("member_id", "variant_id", "status")
    )
    assert len(rows) == len(ids)
    control = sum(1 for _m, _v, s in rows if s == "control")
    assert abs(control / len(ids) - 0.10) < 0.02
    contacted = [(m, v) for m, v, s in rows if s != "control"]
    share_a = sum(1 for _m, v in contacted if v == variants[0].pk) / len(contacted)
    assert abs(share_a - 0.70) < 0.03
    # Stable: the Python twin gives every member the same variant and group.
    for member_id, variant_id, status in rows:
        assert audience.assign(campaign, variants, member_id) == (variant_id, status == "control")
    # Running the chunk again inserts nothing.
    again = audience.insert_deliveries(
        campaign=campaign,
        members=Member.objects.all(),
        variants=variants,
        channel="noop",
        occurrence="",
        now=NOON,
    )
    assert again == 0


def test_campaign_launch_test_group_sends_to_at_most_n_and_records_control(run):
    members = _members(12, "marketing_email")
    campaign = cf.campaign(channels=["test"], test_group_size=5, holdout_percent=20)
    run(campaign_launch, campaign=campaign, actor=None)
    rows = Delivery.objects.filter(campaign=campaign)
    assert rows.count() == 5
    assert set(rows.values_list("status", flat=True)) <= {"sent", "control"}
    assert ProviderCall.objects.count() == rows.filter(status="sent").count()
    assert len(members) == 12


# --- consent at the moment of sending ---------------------------------------------------------


def test_campaign_scheduled_then_consent_withdrawn_is_not_contacted(run):
    anna, bo = _members(2, "marketing_email")
    campaign = cf.campaign(channels=["email"], send_at=NOON + datetime.timedelta(days=1))
    with time_machine.travel(NOON, tick=False):
        run(campaign_launch, campaign=campaign, actor=None)
        assert Delivery.objects.count() == 0  # far-future: stays in the database
        consent_f.withdrawn(anna, "marketing_email")
    with time_machine.travel(NOON + datetime.timedelta(days=1, minutes=1), tick=False):
        run(campaigns_start_due)
    status = _status(campaign)
    assert status[(anna.pk, "email")] == ("suppressed", "withdrawn")
    assert status[(bo.pk, "email")] == ("sent", "")
    assert [m.to for m in mail.outbox] == [[bo.user.email]]


def test_deliveries_send_falls_back_to_the_next_channel_when_one_has_no_consent(run):
    (anna,) = _members(1, "marketing_sms", "profiling", phone="0701234567")
    campaign = cf.campaign(channels=["email", "sms", "onsite"])
    with time_machine.travel(NOON, tick=False):
        run(campaign_launch, campaign=campaign, actor=None)
    status = _status(campaign)
    assert status[(anna.pk, "email")] == ("suppressed", "no_consent")
    assert status[(anna.pk, "sms")] == ("sent", "")
    assert (anna.pk, "onsite") not in status
    assert ContactBudget.objects.get(member=anna).used == 1


# --- contact budget and quiet hours ------------------------------------------------------------


def test_contact_budget_members_own_limit_suppresses_with_reason(run):
    (anna,) = _members(1, "marketing_email")
    consent_f.preferences(anna, per_week=1, quiet=None)
    first = cf.campaign(channels=["email"])
    second = cf.campaign(channels=["email"])
    with time_machine.travel(NOON, tick=False):
        run(campaign_launch, campaign=first, actor=None)
        run(campaign_launch, campaign=second, actor=None)
    assert _status(first)[(anna.pk, "email")] == ("sent", "")
    assert _status(second)[(anna.pk, "email")] == ("suppressed", "contact_limit")
    # A new week, a new budget.
    third = cf.campaign(channels=["email"])
    with time_machine.travel(NOON + datetime.timedelta(days=7), tick=False):
        run(campaign_launch, campaign=third, actor=None)
    assert _status(third)[(anna.pk, "email")] == ("sent", "")


def test_contact_budget_club_cap_counts_every_channel(run, settings):
    settings.CAMPAIGNS_MAX_MESSAGES_PER_WEEK = 2
    (anna,) = _members(1, "marketing_email", "marketing_sms", "profiling", phone="0701234567")
    campaigns = [cf.campaign(channels=[ch]) for ch in ("email", "sms", "onsite")]
    with time_machine.travel(NOON, tick=False):
        for campaign in campaigns:
            run(campaign_launch, campaign=campaign, actor=None)
    outcomes = [_status(c)[(anna.pk, c.channels[0])] for c in campaigns]
    assert outcomes == [("sent", ""), ("sent", ""), ("suppressed", "contact_limit")]


def test_quiet_hours_suppress_email_with_reason_and_fall_back_to_member_page(run):
    (anna,) = _members(1, "marketing_email", "profiling")
    consent_f.preferences(anna, per_week=None, quiet=(datetime.time(21), datetime.time(8)))
    campaign = cf.campaign(channels=["email", "onsite"])
    with time_machine.travel(NOON.replace(hour=22), tick=False):
        run(campaign_launch, campaign=campaign, actor=None)
    status = _status(campaign)
    assert status[(anna.pk, "email")] == ("suppressed", "quiet_hours")
    assert status[(anna.pk, "onsite")] == ("sent", "")
    assert mail.outbox == []
    assert InboxMessage.objects.get(member=anna).title.startswith("Hej Anna")


# --- competing campaigns -----------------------------------------------------------------------


def _fan_out_without_sending(campaign, run):
    """Both campaigns have their rows waiting before either sends (a real race)."""
    from campaigns.sending.fanout import campaign_start, fanout_chunk_run

    Campaign.objects.filter(pk=campaign.pk).update(status="scheduled", send_at=NOON)
    with time_machine.travel(NOON, tick=False):
        campaign_start(campaign_id=campaign.pk)
        for chunk in campaign.chunks.all():
            fanout_chunk_run(chunk_id=chunk.pk)
    return list(Delivery.objects.filter(campaign=campaign).values_list("pk", flat=True))


@pytest.mark.parametrize("low_sends_first", [True, False])
def test_competing_campaigns_last_slot_goes_to_higher_priority(run, low_sends_first):
    (anna,) = _members(1, "marketing_email")
    consent_f.preferences(anna, per_week=1, quiet=None)
    low = cf.campaign(channels=["email"], priority=1, name="Low")
    high = cf.campaign(channels=["email"], priority=5, name="High")
    low_ids = _fan_out_without_sending(low, run)
    high_ids = _fan_out_without_sending(high, run)
    order = [low_ids, high_ids] if low_sends_first else [high_ids, low_ids]
    with time_machine.travel(NOON, tick=False):
        for ids in order:
            run(deliveries_send, delivery_ids=ids)
    assert _status(high)[(anna.pk, "email")] == ("sent", "")
    assert _status(low)[(anna.pk, "email")] == (
        "suppressed",
        "lower_priority" if low_sends_first else "contact_limit",
    )


# --- claims, retries, sweeper, cancel -------------------------------------------------------


def test_deliveries_send_twice_with_the_same_ids_sends_once(run):
    _members(3, "marketing_email")
    campaign = cf.campaign(channels=["test"])
    ids = _fan_out_without_sending(campaign, run)
    with time_machine.travel(NOON, tick=False):
        run(deliveries_send, delivery_ids=ids)
        run(deliveries_send, delivery_ids=ids)
    assert ProviderCall.objects.count() == 3
    assert Delivery.objects.filter(status="sent").count() == 3


def test_deliveries_sweep_resends_stuck_rows_once_without_taking_budget_again(run):
    (anna,) = _members(1, "marketing_email")
    campaign = cf.campaign(channels=["test"])
    (delivery_id,) = _fan_out_without_sending(campaign, run)
    # A worker claimed it, took the budget and died before sending.
    Delivery.objects.filter(pk=delivery_id).update(
        status="sending", claimed_at=NOON, budget_taken=True, attempts=1
    )
    ContactBudget.objects.create(member=anna, week=datetime.date(2026, 3, 9), used=1)
    with time_machine.travel(NOON + datetime.timedelta(seconds=30), tick=False):
        assert run(deliveries_sweep, stuck_seconds=60)["unstuck"] == 0  # not stuck yet
    with time_machine.travel(NOON + datetime.timedelta(minutes=10), tick=False):
        result = run(deliveries_sweep, stuck_seconds=60)
    assert result["unstuck"] == 1
    delivery = Delivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts) == ("sent", 2)
    assert ProviderCall.objects.filter(delivery_id=delivery_id).count() == 1
    assert ContactBudget.objects.get(member=anna).used == 1
    campaign.refresh_from_db()
    assert campaign.status == "done"


def test_mark_sent_after_a_lost_claim_does_not_mark(run):
    """A slow original whose row was re-claimed cannot mark it: the claim is the token."""
    from campaigns.sending.batch import deliveries_mark_sent
    from campaigns.sending.claim import Claimed

    _members(1, "marketing_email")
    campaign = cf.campaign(channels=["test"])
    (delivery_id,) = _fan_out_without_sending(campaign, run)
    Delivery.objects.filter(pk=delivery_id).update(status="sending", claimed_at=NOON)
    d = Delivery.objects.get(pk=delivery_id)
    old_claim = NOON - datetime.timedelta(minutes=5)
    row = Claimed(
        d.pk,
        d.member_id,
        d.campaign_id,
        d.variant_id,
        d.channel,
        d.occurrence,
        d.budget_taken,
        d.attempts,
        old_claim,
    )
    assert deliveries_mark_sent([row], old_claim, NOON, {}, variants={}) == 0
    assert Delivery.objects.get(pk=delivery_id).status == "sending"
    assert not d.member.events.filter(kind="message_received").exists()
    current = Claimed(
        d.pk,
        d.member_id,
        d.campaign_id,
        d.variant_id,
        d.channel,
        d.occurrence,
        d.budget_taken,
        d.attempts,
        NOON,
    )
    assert deliveries_mark_sent([current], NOON, NOON, {}, variants={}) == 1
    assert d.member.events.filter(kind="message_received").count() == 1


def test_campaign_cancel_stops_what_has_not_been_sent(run):
    _members(3, "marketing_email")
    campaign = cf.campaign(channels=["test"])
    ids = _fan_out_without_sending(campaign, run)
    with time_machine.travel(NOON, tick=False):
        run(deliveries_send, delivery_ids=ids[:1])
        cancelled = campaign_cancel(campaign=campaign, actor=None)
        run(deliveries_send, delivery_ids=ids)
    assert cancelled == 2
    assert sorted(Delivery.objects.values_list("status", flat=True)) == [
        "cancelled",
        "cancelled",
        "sent",
    ]
    assert ProviderCall.objects.count() == 1


def test_recurring_campaign_launch_creates_its_beat_entry(run):
    from django_celery_beat.models import PeriodicTask

    campaign = cf.campaign(schedule_kind="recurring", crontab="0 9 * * 1")
    run(campaign_launch, campaign=campaign, actor=None)
    task = PeriodicTask.objects.get(name=f"campaign-{campaign.pk}")
    assert task.task == "campaigns.tasks.campaign_occurrence_start"
    assert (task.crontab.hour, task.crontab.day_of_week) == ("9", "1")


def test_welcome_trigger_sends_to_a_member_who_joins(run):
    campaign = cf.campaign(schedule_kind="trigger", trigger="joined", channels=["onsite"])
    run(campaign_launch, campaign=campaign, actor=None)
    with time_machine.travel(NOON, tick=False):
        anna = run(factories.member_with_user)
        consent_f.granted(anna, "profiling")
    # Consent came after the join event in this test: the delivery was suppressed.
    assert _status(campaign)[(anna.pk, "onsite")] == ("suppressed", "no_consent")
    assert Campaign.objects.get(pk=campaign.pk).status == "sending"


def test_delivery_rows_are_unique_per_campaign_member_channel(run):
    from django.db import IntegrityError, transaction

    (anna,) = _members(1)
    campaign = cf.campaign()
    Delivery.objects.create(campaign=campaign, member=anna, channel="test")
    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(campaign=campaign, member=anna, channel="test")
