"""A balance as the API and the pages show it (a read: selectors and services both use it)."""

from __future__ import annotations

from rewards.models import PointBalance


def balance_snapshot(balance: PointBalance | None) -> dict[str, int]:
    if balance is None:
        return {"available": 0, "pending": 0, "reserved": 0, "posted": 0}
    return {
        "available": balance.posted - balance.reserved,
        "pending": balance.pending,
        "reserved": balance.reserved,
        "posted": balance.posted,
    }
