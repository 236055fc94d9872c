"""Challenges follow the timeline as it happens; completion gives points and a badge once."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.utils import timezone

from members.activity import Kind, activity_consume
from members.models import ActivityEvent
from members.services import member_update_profile
from rewards.loyalty import challenges
from rewards.models import Badge, Challenge, ChallengeProgress, LedgerEntry, MemberBadge
from rewards.rules.events import checkin_record
from tests import factories
from tests.factories import rewards as rf
from tests.rewards.invariants import assert_invariants

pytestmark = pytest.mark.django_db
T0 = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)  # a Monday


def _challenge(kind: str, target: int, **extra) -> Challenge:
    badge = Badge.objects.create(code=f"b-{kind}", name_sv=f"{kind} sv", name_en=f"{kind} en")
    return Challenge.objects.create(
        code=kind,
        kind=kind,
        name_sv=f"{kind} sv",
        name_en=f"{kind} en",
        target=target,
        points=extra.pop("points", 100),
        badge=badge,
        starts_at=extra.pop("starts_at", T0 - datetime.timedelta(days=1)),
        **extra,
    )


def _consume_latest(member, kind: str) -> None:
    event = ActivityEvent.objects.filter(member=member, kind=kind).order_by("-pk").first()
    assert event is not None
    activity_consume(event_id=event.pk)


def _buy(store, member, sku: str = "SKU-1", category: str = "") -> None:
    rf.purchase(store=store, member=member, lines=[rf.line(sku, 1, 10000, category=category)])
    _consume_latest(member, Kind.PURCHASED)


def test_purchases_challenge_3_in_30_days_completes_once(store, member):
    # given "3 purchases in 30 days" for 100 points and a badge
    challenge = _challenge(Challenge.Kind.PURCHASES, 3, window_days=30)
    with time_machine.travel(T0, tick=False):
        _buy(store, member)
        _buy(store, member)
        # then progress shows 2 of 3
        row = challenges.challenges_for_member(member=member)[0]
        assert (row.progress, row.remaining, row.completed_at) == (2, 1, None)
        # when the third purchase happens
        _buy(store, member)

    # then the challenge completes at once: points and badge, once
    progress = ChallengeProgress.objects.get(member=member, challenge=challenge)
    assert progress.completed_at is not None
    assert MemberBadge.objects.filter(member=member, badge=challenge.badge).count() == 1
    entries = LedgerEntry.objects.filter(idempotency_key__startswith=f"challenge:{challenge.pk}:")
    assert [e.points for e in entries] == [100]
    assert ActivityEvent.objects.filter(member=member, kind=Kind.CHALLENGE_COMPLETED).count() == 1
    # and a fourth purchase (or a redelivered event) changes nothing more
    with time_machine.travel(T0 + datetime.timedelta(days=1), tick=False):
        _buy(store, member)
    challenges.challenge_progress_update(member=member, challenge=challenge)
    assert entries.count() == 1
    assert_invariants([member.pk])


def test_purchases_challenge_window_slides(store, member):
    # given "3 purchases in 30 days" and two purchases 40 days ago
    _challenge(
        Challenge.Kind.PURCHASES, 3, window_days=30, starts_at=T0 - datetime.timedelta(days=90)
    )
    with time_machine.travel(T0 - datetime.timedelta(days=40), tick=False):
        _buy(store, member)
        _buy(store, member)
    # when one more purchase happens today, then it counts alone
    with time_machine.travel(T0, tick=False):
        _buy(store, member)
        assert challenges.challenges_for_member(member=member)[0].progress == 1


def test_new_category_challenge(store, member):
    # given a member who always bought shoes, before the challenge started
    with time_machine.travel(T0 - datetime.timedelta(days=10), tick=False):
        rf.purchase(store=store, member=member, lines=[rf.line("SHOE", category="skor")])
    challenge = _challenge(Challenge.Kind.NEW_CATEGORY, 1)
    with time_machine.travel(T0, tick=False):
        # when they buy shoes again, nothing; when they try socks, the challenge completes
        _buy(store, member, "SHOE", "skor")
        assert not ChallengeProgress.objects.get(challenge=challenge).completed_at
        _buy(store, member, "SOCK", "strumpor")
    assert ChallengeProgress.objects.get(challenge=challenge).completed_at is not None


def test_stores_challenge_counts_purchases_and_checkins(store, member):
    challenge = _challenge(Challenge.Kind.STORES, 2, window_days=30)
    other_store = factories.store(code="uppsala")
    with time_machine.travel(T0, tick=False):
        _buy(store, member)
        checkin_record(member=member, store=store, idempotency_key="c1")
        _consume_latest(member, Kind.CHECKED_IN)
        assert ChallengeProgress.objects.get(challenge=challenge).progress == 1
        checkin_record(member=member, store=other_store, idempotency_key="c2")
        _consume_latest(member, Kind.CHECKED_IN)
    assert ChallengeProgress.objects.get(challenge=challenge).completed_at is not None


def test_weekend_checkins_in_a_row_streak(store, member):
    # given "check in 4 weekends in a row"
    challenge = _challenge(Challenge.Kind.WEEKEND_CHECKINS, 4)
    saturday = T0 + datetime.timedelta(days=5)
    # when they check in three Saturdays in a row, skip one, then check in on two Sundays
    days = [0, 7, 14, 29, 36]
    for n, offset in enumerate(days):
        with time_machine.travel(saturday + datetime.timedelta(days=offset), tick=False):
            checkin_record(member=member, store=store, idempotency_key=f"w{n}")
            _consume_latest(member, Kind.CHECKED_IN)
    # then the longest run is 3: not complete; a weekday check-in does not count either
    progress = ChallengeProgress.objects.get(challenge=challenge)
    assert progress.progress == 3
    assert progress.completed_at is None
    # and when the new run reaches four weekends, the challenge completes
    for n, offset in enumerate([43, 50], start=10):
        with time_machine.travel(saturday + datetime.timedelta(days=offset), tick=False):
            checkin_record(member=member, store=store, idempotency_key=f"w{n}")
            _consume_latest(member, Kind.CHECKED_IN)
    assert ChallengeProgress.objects.get(challenge=challenge).completed_at is not None


def test_profile_challenge_completes_from_the_profile_event(member):
    challenge = _challenge(Challenge.Kind.PROFILE, 1, points=50)
    member_update_profile(
        member=member, actor=member.user, phone="0701234567", birth_date=datetime.date(1990, 5, 17)
    )
    _consume_latest(member, Kind.PROFILE_UPDATED)
    assert ChallengeProgress.objects.get(challenge=challenge).completed_at is not None


def test_ended_or_inactive_challenges_do_not_move(store, member):
    ended = _challenge(
        Challenge.Kind.PURCHASES, 1, ends_at=timezone.now() - datetime.timedelta(days=1)
    )
    Challenge.objects.filter(pk=ended.pk).update(code="ended")
    inactive = Challenge.objects.create(
        code="off", kind="purchases", name_sv="x", name_en="x", target=1, active=False
    )
    _buy(store, member)
    assert not ChallengeProgress.objects.filter(challenge__in=[ended, inactive]).exists()


def test_purchase_week_streak(store, member):
    for weeks_ago in (0, 1, 2, 4):
        with time_machine.travel(T0 - datetime.timedelta(weeks=weeks_ago), tick=False):
            rf.purchase(store=store, member=member)
    with time_machine.travel(T0 + datetime.timedelta(days=2), tick=False):
        assert challenges.purchase_week_streak(member=member) == 3
    other = factories.member_with_user()
    assert challenges.purchase_week_streak(member=other) == 0


def test_purchase_weeks_are_the_club_time_zones_weeks(store, member):
    """A week runs Monday to Sunday in Stockholm, whatever the hour in UTC: a purchase late
    on Sunday evening belongs to its week, one just after midnight to the next, in summer
    and in winter time; the same weeks as every purchase's local date would give."""
    times = [
        datetime.datetime(2026, 1, 11, 22, 30, tzinfo=datetime.UTC),  # Sun 23:30 in winter
        datetime.datetime(2026, 1, 11, 23, 30, tzinfo=datetime.UTC),  # Mon 00:30 in winter
        datetime.datetime(2026, 6, 14, 21, 30, tzinfo=datetime.UTC),  # Sun 23:30 in summer
        datetime.datetime(2026, 6, 14, 22, 30, tzinfo=datetime.UTC),  # Mon 00:30 in summer
        datetime.datetime(2026, 3, 29, 0, 30, tzinfo=datetime.UTC),  # the night clocks go on
        datetime.datetime(2026, 12, 31, 23, 30, tzinfo=datetime.UTC),  # new year: week of 28 Dec
    ]
    for moment in times:
        with time_machine.travel(moment, tick=False):
            rf.purchase(store=store, member=member)
    since = datetime.datetime(2025, 12, 1, tzinfo=datetime.UTC)
    mondays = challenges.purchase_weeks(member_id=member.pk, since=since)
    expected = set()
    for moment in times:
        day = timezone.localtime(moment).date()
        expected.add(day - datetime.timedelta(days=day.weekday()))
    assert mondays == expected
    assert {datetime.date(2026, 1, 5), datetime.date(2026, 1, 12)} <= mondays
    assert {datetime.date(2026, 6, 8), datetime.date(2026, 6, 15)} <= mondays
    assert datetime.date(2026, 12, 28) in mondays
    later = challenges.purchase_weeks(member_id=member.pk, since=times[3])
    assert later == {datetime.date(2026, 6, 15), datetime.date(2026, 12, 28)}
