"""Earning, redeeming and staff adjustments of points."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.activity import Kind as ActivityKind
from members.activity import activity_record
from members.models import Member, Store, User
from rewards.errors import (
    InsufficientPointsError,
)
from rewards.ledger.balances import balance_apply, balance_credit, balance_lock
from rewards.ledger.entries import Cause, Entry, entry_write
from rewards.ledger.idempotency import idempotent_run
from rewards.ledger.lock_objects import member_lock_resolved
from rewards.ledger.lots import lot_create, lots_consume
from rewards.ledger.snapshots import balance_snapshot
from rewards.models import (
    EventRule,
    LedgerEntry,
)


def points_earn(
    *,
    member: Member,
    points: int,
    cause: str,
    idempotency_key: str,
    explanation: list[dict[str, Any]] | None = None,
    reason: str = "",
    actor: User | None = None,
    store: Store | None = None,
    pending_days: int = 0,
    event_rule: EventRule | None = None,
) -> LedgerEntry:
    """Credit points as a new lot (pending for ``pending_days``). Replaying the key is a no-op
    that returns the first entry."""
    if points <= 0:
        raise ValidationError({"points": _("Points must be a positive whole number.")})
    existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    now = timezone.now()
    available_at = now + datetime.timedelta(days=pending_days)
    matured = pending_days <= 0
    try:
        return _points_earn_new(
            member=member,
            points=points,
            cause=cause,
            idempotency_key=idempotency_key,
            explanation=explanation,
            reason=reason,
            actor=actor,
            store=store,
            event_rule=event_rule,
            available_at=available_at,
            matured=matured,
        )
    except IntegrityError:
        # A concurrent call with the same key committed first: answer with its entry.
        existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing


def _points_earn_new(
    *,
    member: Member,
    points: int,
    cause: str,
    idempotency_key: str,
    explanation: list[dict[str, Any]] | None,
    reason: str,
    actor: User | None,
    store: Store | None,
    event_rule: EventRule | None,
    available_at: datetime.datetime,
    matured: bool,
) -> LedgerEntry:
    with transaction.atomic():
        # The member row first (as every points write): points given to a member merged
        # meanwhile are the survivor's.
        member_id = member_lock_resolved(member_id=member.pk)
        entry = entry_write(
            member_id=member_id,
            kind=Entry.EARN,
            points=points,
            pending=0 if matured else points,
            posted=points if matured else 0,
            cause=cause,
            key=idempotency_key,
            explanation=explanation,
            reason=reason,
            actor=actor,
            store_id=store.pk if store else None,
            event_rule_id=event_rule.pk if event_rule else None,
        )
        lot_create(
            member_id=member_id,
            entry=entry,
            points=points,
            available_at=available_at,
            matured=matured,
        )
        balance_credit(member_id, pending=0 if matured else points, posted=points if matured else 0)
    return entry


def points_check(points: int) -> None:
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise ValidationError({"points": _("Points must be a positive whole number.")})


def points_redeem(
    *,
    member: Member,
    points: int,
    idempotency_key: str,
    store: Store | None = None,
    actor: User | None = None,
    reference: str = "",
) -> dict[str, Any]:
    """Spend available points in one step. Raises ``InsufficientPointsError``."""
    points_check(points)

    def work() -> dict[str, Any]:
        balance = balance_lock(member.pk)
        # Re-check under the lock: another till may have spent these points a moment ago.
        if balance is None or balance.available < points:
            raise InsufficientPointsError(available=balance.available if balance else 0)
        entry = entry_write(
            member_id=member.pk,
            kind=Entry.REDEEM,
            points=points,
            posted=-points,
            cause=Cause.REWARD,
            key=f"redeem:{idempotency_key}",
            reason=reference,
            store_id=store.pk if store else None,
            actor=actor,
        )
        lots_consume(member.pk, points)
        balance_apply(balance, posted=-points)
        activity_record(
            member=member,
            kind=ActivityKind.POINTS_REDEEMED,
            data={"entry_id": entry.pk, "points": points},
            source="api" if store else "system",
            store=store,
        )
        return {"entry_id": entry.pk, "points": points, "balance": balance_snapshot(balance)}

    return idempotent_run(
        key=idempotency_key,
        payload={"op": "redeem", "member": member.pk, "points": points, "reference": reference},
        work=work,
    )


def points_adjust(
    *, member: Member, points: int, reason: str, actor: User | None, idempotency_key: str
) -> LedgerEntry:
    """A manual correction by staff: positive credits a new lot, negative takes available
    points FIFO. The reason is mandatory; who and why stay on the entry for audit."""
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    if not reason:
        errors["reason"] = _("Give a reason for the adjustment.")
    if not isinstance(points, int) or points == 0 or abs(points) > 10_000_000:
        errors["points"] = _("Enter a whole number of points, not zero.")
    if errors:
        raise ValidationError(errors)
    existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        balance = balance_lock(member.pk, create=True)
        assert balance is not None
        if points < 0 and balance.available < -points:
            raise InsufficientPointsError(available=balance.available)
        entry = entry_write(
            member_id=member.pk,
            kind=Entry.ADJUST,
            points=abs(points),
            posted=points,
            cause=Cause.STAFF,
            key=idempotency_key,
            reason=reason,
            actor=actor,
        )
        if points > 0:
            now = timezone.now()
            lot_create(
                member_id=member.pk, entry=entry, points=points, available_at=now, matured=True
            )
        else:
            lots_consume(member.pk, -points)
        balance_apply(balance, posted=points)
        activity_record(
            member=member,
            kind=ActivityKind.POINTS_ADJUSTED,
            data={"entry_id": entry.pk, "points": points},
            source="staff",
            actor=actor,
        )
    return entry
