"""Beat: pending lots maturing, and lots expiring."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from members.activity import Kind as ActivityKind
from members.activity import activity_record
from rewards.errors import MemberMergedError
from rewards.ledger.balances import balance_apply, balance_lock
from rewards.ledger.entries import Cause, Entry, entry_write, member_ref
from rewards.ledger.lock_objects import lots_by_expiry, lots_select_for_update
from rewards.models import (
    PointLot,
)


def points_mature_due(*, limit: int = 5000) -> int:
    """Make pending lots whose return window has passed available. Idempotent."""
    now = timezone.now()
    member_ids = list(
        PointLot.objects.filter(matured=False, available_at__lte=now)
        .order_by("member_id")
        .values_list("member_id", flat=True)
        .distinct()[:limit]
    )
    for member_id in member_ids:
        with transaction.atomic():
            try:
                balance_lock(member_id)  # matures the member's due lots under the lock
            except MemberMergedError:
                continue  # merged meanwhile: its lots are the survivor's now
    return len(member_ids)


def points_expire_member(*, member_id: int) -> int:
    """Expire the member's lots past their date, oldest first (I5). Returns points expired.

    Reserved points are protected: a lot expires only as far as the available balance
    covers it; the rest expires on the next run after the reservation resolves."""
    now = timezone.now()
    expired = 0
    with transaction.atomic():
        try:
            balance = balance_lock(member_id)
        except MemberMergedError:
            return 0  # merged meanwhile: its lots are the survivor's now
        if balance is None:
            return 0
        lots = lots_by_expiry(
            list(
                lots_select_for_update(member_id=member_id).filter(
                    matured=True, remaining__gt=0, expires_at__lte=now
                )
            )
        )
        for lot in lots:
            take = min(lot.remaining, balance.available)
            if take <= 0:
                break
            entry = entry_write(
                member_id=member_id,
                kind=Entry.EXPIRE,
                points=take,
                posted=-take,
                cause=Cause.SYSTEM,
                # remaining strictly falls, so lot + remaining-before is unique per expiry step
                key=f"expire:{lot.pk}:{lot.remaining}",
                purchase_id=lot.purchase_id,
            )
            PointLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - take)
            balance_apply(balance, posted=-take)
            expired += take
            activity_record(
                member=member_ref(member_id),
                kind=ActivityKind.POINTS_EXPIRED,
                data={"entry_id": entry.pk, "points": take, "lot_id": lot.pk},
            )
    return expired


def points_expire_due(*, limit: int = 10000) -> int:
    """Daily beat job: expire every due lot, member by member. Running it twice, or twice at
    once, equals running it once (each member's work happens under their balance lock)."""
    now = timezone.now()
    member_ids = list(
        PointLot.objects.filter(remaining__gt=0, expires_at__lte=now)
        .order_by("member_id")
        .values_list("member_id", flat=True)
        .distinct()[:limit]
    )
    return sum(points_expire_member(member_id=member_id) for member_id in member_ids)
