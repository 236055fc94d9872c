"""Event rules: points for non-spending behaviour (birthdays, check-ins)."""

from __future__ import annotations

import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import get_language, ngettext

from members.activity import Kind as ActivityKind
from members.activity import activity_record
from members.formats import number_grouped
from members.merging import member_resolve
from members.models import Member, Store, User
from rewards.errors import (
    IdempotencyConflictError,
    MemberMergedError,
)
from rewards.ledger.balances import balance_lock
from rewards.ledger.entries import Cause, Entry
from rewards.ledger.points import points_earn
from rewards.models import (
    CheckIn,
    EventRule,
    LedgerEntry,
)
from rewards.selectors import visit_key_for


def _period_start(period: str, now: datetime.datetime) -> datetime.datetime | None:
    local = timezone.localtime(now)
    day = local.date()
    if period == EventRule.Period.DAY:
        start = day
    elif period == EventRule.Period.WEEK:
        start = day - datetime.timedelta(days=day.weekday())
    elif period == EventRule.Period.MONTH:
        start = day.replace(day=1)
    else:
        return None
    return timezone.make_aware(datetime.datetime.combine(start, datetime.time.min))


def event_points_open(*, member: Member, event: str, now: datetime.datetime | None = None) -> int:
    """The points ``member`` would earn now for ``event``: its active rules (for the member
    themself) whose cap this period is not reached yet. A read, for pages that tell the member
    what there is to earn ("the first time you tell us what you like: 50 points")."""
    now = now or timezone.now()
    total = 0
    rules = EventRule.objects.filter(event=event, active=True).exclude(
        beneficiary__in=[EventRule.Beneficiary.REFERRER, EventRule.Beneficiary.REFERRED]
    )
    for rule in rules.order_by("pk"):
        used = LedgerEntry.objects.filter(member=member, event_rule=rule, kind=Entry.EARN)
        start = _period_start(rule.period, now)
        if start is not None:
            used = used.filter(created_at__gte=start)
        if used.count() < rule.cap:
            total += rule.points
    return total


def interests_points_hint(member: Member) -> str:
    """The line on "Vad gillar du?" (consent.interests_step) when telling earns points."""
    points = event_points_open(member=member, event=EventRule.Event.INTERESTS_TOLD)
    if not points:
        return ""
    return ngettext(
        "Tell us what you like and get %(points)s point.",
        "Tell us what you like and get %(points)s points.",
        points,
    ) % {"points": number_grouped(points, get_language())}


def event_points_award(
    *,
    member: Member,
    event: str,
    idempotency_key: str,
    role: str = EventRule.Beneficiary.MEMBER,
    store: Store | None = None,
    actor: User | None = None,
) -> list[LedgerEntry]:
    """Award the active rules for ``event`` within each rule's cap per period.

    ``role`` is who this member is in a referral ("referrer" or "referred"). The member's
    balance row is locked before counting, so two check-ins at once cannot both pass the cap.
    """
    rules = list(EventRule.objects.filter(event=event, active=True).order_by("pk"))
    if event == EventRule.Event.REFERRAL:
        rules = [r for r in rules if r.beneficiary in (role, EventRule.Beneficiary.BOTH)]
    if not rules:
        return []
    entries = []
    now = timezone.now()
    with transaction.atomic():
        try:
            balance_lock(member.pk, create=True)
        except MemberMergedError:
            # Merged meanwhile (the event was the tombstone's): the survivor earns it.
            member = member_resolve(member)
            balance_lock(member.pk, create=True)
        for rule in rules:
            key = f"{idempotency_key}:rule{rule.pk}"
            if LedgerEntry.objects.filter(idempotency_key=key).exists():
                continue
            used = LedgerEntry.objects.filter(member=member, event_rule=rule, kind=Entry.EARN)
            start = _period_start(rule.period, now)
            if start is not None:
                used = used.filter(created_at__gte=start)
            if used.count() >= rule.cap:
                continue
            entries.append(
                points_earn(
                    member=member,
                    points=rule.points,
                    cause=Cause.RULE,
                    idempotency_key=key,
                    explanation=[
                        {
                            "rule": None,
                            "event_rule": rule.pk,
                            "sv": rule.name_sv,
                            "en": rule.name_en,
                            "points": rule.points,
                        }
                    ],
                    store=store,
                    actor=actor,
                    event_rule=rule,
                )
            )
    return entries


def checkin_record(
    *,
    member: Member,
    store: Store,
    idempotency_key: str,
    source: str = "api",
    actor: User | None = None,
) -> tuple[Any, list[LedgerEntry]]:
    """A member arrived at the door: record it on the timeline and award check-in rules.
    ``source`` and ``actor`` say who recorded it (a door scanner's key, staff at the desk)."""
    with transaction.atomic():
        checkin, created = CheckIn.objects.get_or_create(
            idempotency_key=idempotency_key, defaults={"member": member, "store": store}
        )
        if not created:
            if checkin.member_id != member.pk or checkin.store_id != store.pk:
                raise IdempotencyConflictError()
            entries = list(
                LedgerEntry.objects.filter(idempotency_key__startswith=f"checkin:{checkin.pk}:")
            )
            return checkin, entries
        activity_record(
            member=member,
            kind=ActivityKind.CHECKED_IN,
            data={"checkin_id": checkin.pk},
            source=source,
            actor=actor,
            store=store,
        )
        entries = event_points_award(
            member=member,
            event=EventRule.Event.CHECK_IN,
            idempotency_key=f"checkin:{checkin.pk}",
            store=store,
        )
    return checkin, entries


def checkin_record_by_staff(
    *, member: Member, store: Store, staff: User
) -> tuple[Any, list[LedgerEntry]]:
    """Staff checked the member in at the desk: once per member, store and day (a second
    tap, or a second tablet, gets the same check-in and no more points)."""
    return checkin_record(
        member=member,
        store=store,
        idempotency_key=visit_key(member, store),
        source="desk",
        actor=staff,
    )


def checkin_record_at_door(*, member: Member, store: Store) -> tuple[Any, list[LedgerEntry], bool]:
    """The member scanned the store's door poster with their phone: once per member, store
    and day, shared with the desk (a member checked in at the desk who also scans the
    poster is not checked in twice). The third value says whether this scan checked in."""
    key = visit_key(member, store)
    existed = CheckIn.objects.filter(idempotency_key=key).exists()
    checkin, entries = checkin_record(
        member=member, store=store, idempotency_key=key, source="door", actor=member.user
    )
    return checkin, entries, not existed


def visit_key(member: Member, store: Store) -> str:
    """One visit per member, store and day (the store's local day)."""
    return visit_key_for(member.pk, store.pk)
