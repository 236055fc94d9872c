"""Point lots: what was earned when, maturing (pending -> posted) and consumed oldest first."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.utils import timezone

from rewards.ledger.lock_objects import lots_by_expiry, lots_select_for_update
from rewards.models import (
    LedgerEntry,
    PointLot,
)


def lot_expiry(earned_at: datetime.datetime) -> datetime.datetime:
    """When points earned at ``earned_at`` expire: at the start of a Stockholm day."""
    local = timezone.localtime(earned_at).date()
    if settings.REWARDS_EXPIRY_MODE == "end_of_following_year":
        day = datetime.date(local.year + 2, 1, 1)
    else:
        months = local.month - 1 + settings.REWARDS_EXPIRY_MONTHS
        year, month = local.year + months // 12, months % 12 + 1
        for last in (31, 30, 29, 28):
            try:
                day = datetime.date(year, month, min(local.day, last))
                break
            except ValueError:
                continue
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def lots_consume(member_id: int, points: int, *, first: PointLot | None = None) -> None:
    """Take ``points`` from the member's available lots, oldest expiry first (FIFO).

    Call with the member's balance locked and the amount already checked against it."""
    lots = lots_by_expiry(
        list(lots_select_for_update(member_id=member_id).filter(matured=True, remaining__gt=0))
    )
    if first is not None:
        lots.sort(key=lambda lot: lot.pk != first.pk)
    changed = []
    for lot in lots:
        if points <= 0:
            break
        take = min(points, lot.remaining)
        lot.remaining -= take
        points -= take
        changed.append(lot)
    if points > 0:  # pragma: no cover - the balance and the lots disagree (I1 broken)
        raise RuntimeError(f"Member {member_id}'s lots hold fewer points than their balance.")
    PointLot.objects.bulk_update(changed, ["remaining"])


def lot_create(
    *,
    member_id: int,
    entry: LedgerEntry,
    points: int,
    available_at: datetime.datetime,
    matured: bool,
    purchase_id: int | None = None,
) -> PointLot:
    return PointLot.objects.create(
        member_id=member_id,
        entry=entry,
        purchase_id=purchase_id,
        amount=points,
        remaining=points,
        available_at=available_at,
        matured=matured,
        expires_at=lot_expiry(available_at),
    )
