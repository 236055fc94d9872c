"""Row locks of the ledger, always in one order (docs/ledger.md): the purchase row, then the
member's balance row, then reservations and lots, each set in primary-key order (as saleor's
``lock_objects.py``). Two tills may spend the same points: the balance row lock serialises
them, and the balance is re-checked under it."""

from __future__ import annotations

from django.utils import timezone

from rewards.ledger.balances import balance_credit
from rewards.ledger.lots import lot_mature
from rewards.models import (
    PointBalance,
    PointLot,
)


def balance_lock(member_id: int, *, create: bool = False) -> PointBalance | None:
    """Lock the member's balance row (the lock every spending path takes first), then make
    due pending lots available, so the re-check under the lock sees today's balance."""
    balance = PointBalance.objects.select_for_update().filter(member_id=member_id).first()
    if balance is None:
        if not create:
            return None
        balance_credit(member_id)
        balance = PointBalance.objects.select_for_update().get(member_id=member_id)
    now = timezone.now()
    due = list(
        PointLot.objects.select_for_update()
        .filter(member_id=member_id, matured=False, available_at__lte=now)
        .order_by("id")
    )
    for lot in due:
        lot_mature(lot, balance)
    return balance
