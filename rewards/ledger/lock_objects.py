"""The ledger's row locks, in one order (docs/ledger.md): the purchase row, then the member's
balance row, then reservations and lots, each set in primary-key order (as saleor's
``lock_objects.py``), so two writers never wait on each other's rows. Two tills may spend
the same points: the balance row lock serialises them, and the balance is re-checked under
it. Each function returns the queryset to lock; the caller runs it in its transaction."""

from __future__ import annotations

from django.db.models import QuerySet

from rewards.models import PointBalance, PointLot, Purchase, Reservation


def purchases_select_for_update() -> QuerySet[Purchase]:
    """Purchases to lock, in primary-key order (the first lock of a return or a claim)."""
    return Purchase.objects.select_for_update().order_by("pk")


def balance_select_for_update(*, member_id: int) -> QuerySet[PointBalance]:
    """The member's balance row to lock: the lock every spending path takes first."""
    return PointBalance.objects.select_for_update().filter(member_id=member_id)


def lots_select_for_update(*, member_id: int) -> QuerySet[PointLot]:
    """The member's lots to lock, in primary-key order. Call with their balance row locked
    (``balance_lock``); callers that consume lots oldest expiry first sort what they get
    (``lots_by_expiry``), so every path locks lots in the same order."""
    return PointLot.objects.select_for_update().filter(member_id=member_id).order_by("pk")


def lots_by_expiry(lots: list[PointLot]) -> list[PointLot]:
    """Oldest expiry first (FIFO), then oldest lot."""
    return sorted(lots, key=lambda lot: (lot.expires_at, lot.pk))


def reservation_lock(*, reservation_id: int) -> Reservation:
    """Lock one reservation (after the member's balance row)."""
    return Reservation.objects.select_for_update().get(pk=reservation_id)
