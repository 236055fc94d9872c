"""The member's balance row: a cache of their entries, changed in the entries' transaction."""

from __future__ import annotations

from django.db import connection
from django.db.models import F
from django.utils import timezone

from rewards.models import (
    PointBalance,
)


def balance_snapshot(balance: PointBalance | None) -> dict[str, int]:
    if balance is None:
        return {"available": 0, "pending": 0, "reserved": 0, "posted": 0}
    return {
        "available": balance.posted - balance.reserved,
        "pending": balance.pending,
        "reserved": balance.reserved,
        "posted": balance.posted,
    }


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
