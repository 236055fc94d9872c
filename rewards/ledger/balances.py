"""The member's balance row: a cache of their entries, changed in the entries' transaction."""

from __future__ import annotations

from django.db import connection
from django.db.models import F
from django.utils import timezone

from rewards.ledger.entries import Cause, Entry, entry_write
from rewards.ledger.lock_objects import (
    balance_select_for_update,
    lots_select_for_update,
    member_lock_live,
)
from rewards.models import (
    PointBalance,
    PointLot,
)

_BALANCE_UPSERT = """
INSERT INTO rewards_pointbalance (member_id, pending, posted, reserved, updated_at)
VALUES (%s, %s, %s, 0, %s)
ON CONFLICT (member_id) DO UPDATE SET
    pending = rewards_pointbalance.pending + excluded.pending,
    posted = rewards_pointbalance.posted + excluded.posted,
    updated_at = excluded.updated_at
RETURNING pending, posted, reserved
"""


def balance_credit(member_id: int, *, pending: int = 0, posted: int = 0) -> None:
    """Add non-negative points in one statement (creates the row on first earning)."""
    assert pending >= 0
    assert posted >= 0
    with connection.cursor() as cursor:
        cursor.execute(_BALANCE_UPSERT, [member_id, pending, posted, timezone.now()])


_BALANCES_UPSERT = """
INSERT INTO rewards_pointbalance (member_id, pending, posted, reserved, updated_at)
SELECT member_id, 0, posted, 0, %s FROM unnest(%s::bigint[], %s::bigint[]) AS t(member_id, posted)
ORDER BY member_id
ON CONFLICT (member_id) DO UPDATE SET
    posted = rewards_pointbalance.posted + excluded.posted,
    updated_at = excluded.updated_at
"""


def balances_credit(*, posted: dict[int, int]) -> None:
    """Add non-negative available points to many members' balances in one statement (the
    import of opening balances), creating missing rows; rows are taken in member order."""
    if not posted:
        return
    member_ids = sorted(posted)
    points = [posted[member_id] for member_id in member_ids]
    assert min(points) >= 0
    with connection.cursor() as cursor:
        cursor.execute(_BALANCES_UPSERT, [timezone.now(), member_ids, points])


def balance_apply(
    balance: PointBalance, *, pending: int = 0, posted: int = 0, reserved: int = 0
) -> None:
    """Apply deltas to a balance row the caller has locked (constraints back the checks)."""
    PointBalance.objects.filter(pk=balance.pk).update(
        pending=F("pending") + pending,
        posted=F("posted") + posted,
        reserved=F("reserved") + reserved,
        updated_at=timezone.now(),
    )
    balance.pending += pending
    balance.posted += posted
    balance.reserved += reserved


def lot_mature(lot: PointLot, balance: PointBalance) -> None:
    """Pending -> posted for one lot (locked by the caller, with the member's balance)."""
    if lot.remaining:
        entry_write(
            member_id=lot.member_id,
            kind=Entry.MATURE,
            points=lot.remaining,
            pending=-lot.remaining,
            posted=lot.remaining,
            cause=Cause.SYSTEM,
            key=f"mature:{lot.pk}",
            purchase_id=lot.purchase_id,
        )
        balance_apply(balance, pending=-lot.remaining, posted=lot.remaining)
    PointLot.objects.filter(pk=lot.pk).update(matured=True)
    lot.matured = True


def balance_lock(member_id: int, *, create: bool = False) -> PointBalance | None:
    """Lock the member's balance row (the lock every spending path takes first, after the
    member row: ``member_lock_live``, which refuses a merged member with
    ``MemberMergedError``), then make due pending lots available, so the re-check under the
    lock sees today's balance."""
    member_lock_live(member_id=member_id)
    balance = balance_select_for_update(member_id=member_id).first()
    if balance is None:
        if not create:
            return None
        balance_credit(member_id)
        balance = balance_select_for_update(member_id=member_id).get()
    now = timezone.now()
    due = list(
        lots_select_for_update(member_id=member_id).filter(matured=False, available_at__lte=now)
    )
    for lot in due:
        lot_mature(lot, balance)
    return balance
