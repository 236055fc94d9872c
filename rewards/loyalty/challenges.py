"""Challenges, badges and streaks, driven by the member timeline (docs/rewards.md).

A timeline consumer (``rewards.challenges``, registered in ``RewardsConfig.ready``) measures
each relevant active challenge again from the member's own rows whenever a purchase,
check-in, approved review or profile change happens. Measuring from the rows (not adding
one per event) makes a redelivered or reordered event harmless; completion is a conditional
UPDATE on ``completed_at``, so points and the badge are given once.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone

from members.activity import Kind as ActivityKind
from members.activity import activity_record
from members.models import ActivityEvent, Member
from members.rows import CompiledQuery, column, table
from rewards.ledger.points import points_earn
from rewards.models import (
    Challenge,
    ChallengeProgress,
    CheckIn,
    LedgerEntry,
    MemberBadge,
    Purchase,
    PurchaseLine,
    Review,
)

C = Challenge.Kind
# Which timeline events move which kind of challenge.
KINDS_FOR_EVENT: dict[str, set[str]] = {
    ActivityKind.PURCHASED: {C.PURCHASES, C.NEW_CATEGORY, C.STORES},
    ActivityKind.PURCHASE_CLAIMED: {C.PURCHASES, C.NEW_CATEGORY, C.STORES},
    ActivityKind.CHECKED_IN: {C.STORES, C.WEEKEND_CHECKINS},
    ActivityKind.REVIEW_APPROVED: {C.REVIEWS},
    ActivityKind.PROFILE_UPDATED: {C.PROFILE},
    ActivityKind.JOINED: {C.PROFILE},
}
CONSUMED_KINDS = list(KINDS_FOR_EVENT)


def _since(challenge: Challenge, now: datetime.datetime) -> datetime.datetime:
    if challenge.window_days:
        return max(challenge.starts_at, now - datetime.timedelta(days=challenge.window_days))
    return challenge.starts_at


def _profile_complete(member: Member) -> bool:
    return bool(member.first_name and member.last_name and member.phone and member.birth_date)


def _longest_weekly_run(weeks: set[tuple[int, int]]) -> int:
    """The longest run of consecutive ISO weeks in ``weeks``."""
    mondays = sorted(datetime.date.fromisocalendar(y, w, 1) for y, w in weeks)
    best = run = 0
    previous: datetime.date | None = None
    for monday in mondays:
        run = run + 1 if previous and monday - previous == datetime.timedelta(days=7) else 1
        best = max(best, run)
        previous = monday
    return best


def challenge_measure(
    challenge: Challenge, member: Member, now: datetime.datetime | None = None
) -> int:
    """The member's progress on ``challenge`` now, measured from their rows."""
    now = now or timezone.now()
    since = _since(challenge, now)
    kind = challenge.kind
    if kind == C.PURCHASES:
        return Purchase.objects.filter(
            member=member, purchased_at__gte=since, purchased_at__lte=now
        ).count()
    if kind == C.NEW_CATEGORY:
        lines = PurchaseLine.objects.filter(purchase__member=member, category__isnull=False)
        before = set(
            lines.filter(purchase__purchased_at__lt=challenge.starts_at).values_list(
                "category_id", flat=True
            )
        )
        after = set(
            lines.filter(purchase__purchased_at__gte=since).values_list("category_id", flat=True)
        )
        return len(after - before)
    if kind == C.STORES:
        stores = set(
            Purchase.objects.filter(member=member, purchased_at__gte=since).values_list(
                "store_id", flat=True
            )
        )
        stores |= set(
            CheckIn.objects.filter(member=member, created_at__gte=since).values_list(
                "store_id", flat=True
            )
        )
        return len(stores)
    if kind == C.PROFILE:
        return int(_profile_complete(member))
    if kind == C.WEEKEND_CHECKINS:
        weeks = set()
        for created in CheckIn.objects.filter(member=member, created_at__gte=since).values_list(
            "created_at", flat=True
        ):
            day = timezone.localtime(created).date()
            if day.weekday() >= 5:
                weeks.add(day.isocalendar()[:2])
        return _longest_weekly_run(weeks)
    if kind == C.REVIEWS:
        return Review.objects.filter(
            member=member, status=Review.Status.APPROVED, moderated_at__gte=since
        ).count()
    return 0  # pragma: no cover - every kind is measured above


# The member page's reads, compiled once per process (members.rows): building and compiling
# these querysets cost more than PostgreSQL spent answering them (docs/benchmarks.md).
_ACTIVE: CompiledQuery[Challenge] = CompiledQuery(
    lambda now: (
        Challenge.objects.filter(active=True, starts_at__lte=now)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .select_related("badge")
        .order_by("starts_at", "code")
    ),
    "now",
    datetimes=["now"],
)
_PROGRESS: CompiledQuery[ChallengeProgress] = CompiledQuery(
    lambda member_id, challenge_ids: ChallengeProgress.objects.filter(
        member=member_id, challenge__in=challenge_ids
    ),
    "member_id",
    "challenge_ids",
    lists=["challenge_ids"],
)
_BADGES: CompiledQuery[MemberBadge] = CompiledQuery(
    lambda member_id: MemberBadge.objects.filter(member=member_id).select_related("badge"),
    "member_id",
)


def challenges_active(now: datetime.datetime | None = None) -> list[Challenge]:
    return _ACTIVE(now=now or timezone.now())


def challenge_progress_update(
    *, member: Member, challenge: Challenge, now: datetime.datetime | None = None
) -> ChallengeProgress:
    """Measure, store the progress, and complete the challenge when the target is reached:
    points (a ledger entry keyed by challenge and member) and the badge, once."""
    now = now or timezone.now()
    value = min(challenge_measure(challenge, member, now), 32767)
    with transaction.atomic():
        ChallengeProgress.objects.bulk_create(
            [ChallengeProgress(member=member, challenge=challenge)], ignore_conflicts=True
        )
        progress = ChallengeProgress.objects.select_for_update().get(
            member=member, challenge=challenge
        )
        if progress.completed_at is not None:
            return progress
        if value != progress.progress:
            ChallengeProgress.objects.filter(pk=progress.pk).update(progress=value, updated_at=now)
            progress.progress = value
        if value >= challenge.target:
            completed = ChallengeProgress.objects.filter(
                pk=progress.pk, completed_at__isnull=True
            ).update(completed_at=now)
            if completed:
                progress.completed_at = now
                _challenge_reward(member=member, challenge=challenge, now=now)
    return progress


def _challenge_reward(*, member: Member, challenge: Challenge, now: datetime.datetime) -> None:
    if challenge.points:
        points_earn(
            member=member,
            points=challenge.points,
            cause=LedgerEntry.Cause.RULE,
            idempotency_key=f"challenge:{challenge.pk}:member:{member.pk}",
            explanation=[
                {
                    "rule": None,
                    "challenge": challenge.pk,
                    "sv": challenge.name_sv,
                    "en": challenge.name_en,
                    "points": challenge.points,
                }
            ],
        )
    if challenge.badge_id:
        MemberBadge.objects.bulk_create(
            [MemberBadge(member=member, badge_id=challenge.badge_id, awarded_at=now)],
            ignore_conflicts=True,
        )
    activity_record(
        member=member,
        kind=ActivityKind.CHALLENGE_COMPLETED,
        data={"challenge_id": challenge.pk, "points": challenge.points},
    )


def challenges_from_activity(event: ActivityEvent) -> None:
    """Timeline consumer: move every active challenge this kind of event can move."""
    member = event.member
    if member.erased_at is not None:
        return
    kinds = KINDS_FOR_EVENT.get(event.kind, set())
    for challenge in challenges_active():
        if challenge.kind in kinds:
            challenge_progress_update(member=member, challenge=challenge)


# --- reads for the member page --------------------------------------------------------------


@dataclass(frozen=True)
class ChallengeRow:
    challenge: Challenge
    progress: int
    completed_at: datetime.datetime | None

    @property
    def percent(self) -> int:
        return min(100, self.progress * 100 // max(1, self.challenge.target))

    @property
    def remaining(self) -> int:
        return max(0, self.challenge.target - self.progress)


def challenges_for_member(*, member: Member) -> list[ChallengeRow]:
    """Active challenges with the member's stored progress (two queries), unfinished first,
    closest to completion first."""
    active = challenges_active()
    stored = (
        {
            p.challenge_id: p
            for p in _PROGRESS(member_id=member.pk, challenge_ids=[c.pk for c in active])
        }
        if active
        else {}
    )
    rows = [
        ChallengeRow(
            challenge=c,
            progress=stored[c.pk].progress if c.pk in stored else 0,
            completed_at=stored[c.pk].completed_at if c.pk in stored else None,
        )
        for c in active
    ]
    return sorted(rows, key=lambda r: (r.completed_at is not None, -r.percent, r.challenge.code))


def _nearest_candidates(member_id: int, now: datetime.datetime) -> Any:
    stored = ChallengeProgress.objects.filter(member=member_id, challenge=OuterRef("pk"))
    return (
        Challenge.objects.filter(active=True, starts_at__lte=now)
        .filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))
        .annotate(
            member_progress=Subquery(stored.values("progress")[:1]),
            member_completed_at=Subquery(stored.values("completed_at")[:1]),
        )
        .filter(member_completed_at__isnull=True)
        .select_related("badge")
    )


# The panel on "My pages" asks on every request: compiled once per process (members.rows).
_NEAREST: CompiledQuery[Challenge] = CompiledQuery(
    _nearest_candidates, "member_id", "now", datetimes=["now"]
)


def challenge_nearest(
    *, member: Member, now: datetime.datetime | None = None
) -> ChallengeRow | None:
    """The member's unfinished active challenge closest to completion (as
    :func:`next_to_complete` picks it), in one query: the panel on "My pages"."""
    rows = [
        ChallengeRow(challenge=c, progress=c.member_progress or 0, completed_at=None)  # type: ignore[attr-defined]
        for c in _NEAREST(member_id=member.pk, now=now or timezone.now())
    ]
    rows.sort(key=lambda r: (-r.percent, r.challenge.code))
    return rows[0] if rows else None


def next_to_complete(rows: list[ChallengeRow]) -> ChallengeRow | None:
    open_rows = [r for r in rows if r.completed_at is None]
    return open_rows[0] if open_rows else None


def purchase_weeks(*, member_id: int, since: datetime.datetime) -> set[datetime.date]:
    """The Mondays (in the club's time zone) of the weeks since ``since`` in which the member
    bought something: one statement returning at most one row per week, instead of every
    purchase's time turned local in Python (about 1 ms of the challenges page for a member
    with a year of purchases, docs/benchmarks.md "Member pages")."""
    sql = _WEEKS_SQL.get(connection.alias)
    if sql is None:
        sql = _WEEKS_SQL[connection.alias] = (
            f"SELECT DISTINCT (date_trunc('week', {column(Purchase, 'purchased_at', connection)} "  # noqa: S608
            "AT TIME ZONE %s))::date "
            f"FROM {table(Purchase, connection)} "
            f"WHERE {column(Purchase, 'member', connection)} = %s "
            f"AND {column(Purchase, 'purchased_at', connection)} >= %s"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [timezone.get_current_timezone_name(), member_id, since])
        return {row[0] for row in cursor.fetchall()}


_WEEKS_SQL: dict[str, str] = {}


def purchase_week_streak(*, member: Member, now: datetime.datetime | None = None) -> int:
    """Weeks in a row, up to this week (or last week, if none yet this week), with a purchase."""
    now = now or timezone.now()
    mondays = purchase_weeks(member_id=member.pk, since=now - datetime.timedelta(weeks=104))
    monday = timezone.localtime(now).date()
    monday -= datetime.timedelta(days=monday.weekday())
    if monday not in mondays:
        monday -= datetime.timedelta(days=7)
    streak = 0
    while monday in mondays:
        streak += 1
        monday -= datetime.timedelta(days=7)
    return streak


def badges_for_member(*, member: Member) -> list[MemberBadge]:
    return _BADGES(member_id=member.pk)
