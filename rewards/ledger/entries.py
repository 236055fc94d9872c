"""Ledger entries: the one place an entry row is written (I1, I3: docs/ledger.md)."""

from __future__ import annotations

from typing import Any

from members.models import Member, Store, User
from members.outbox import outbox_emit
from rewards.models import (
    LedgerEntry,
)

Entry = LedgerEntry.Kind


Cause = LedgerEntry.Cause


def entry_write(
    *,
    member_id: int,
    kind: str,
    points: int,
    cause: str,
    key: str,
    pending: int = 0,
    posted: int = 0,
    reserved: int = 0,
    purchase_id: int | None = None,
    reservation_id: int | None = None,
    event_rule_id: int | None = None,
    explanation: list[dict[str, Any]] | None = None,
    reason: str = "",
    store_id: int | None = None,
    actor: User | None = None,
) -> LedgerEntry:
    entry = LedgerEntry.objects.create(
        member_id=member_id,
        kind=kind,
        points=points,
        delta_pending=pending,
        delta_posted=posted,
        delta_reserved=reserved,
        cause=cause,
        purchase_id=purchase_id,
        reservation_id=reservation_id,
        event_rule_id=event_rule_id,
        explanation=explanation or [],
        reason=reason,
        store_id=store_id,
        actor=actor if actor is not None and actor.is_authenticated else None,
        idempotency_key=key,
    )
    # Its public event (members.outbox), in the same transaction: every entry changes the
    # member's points but a transfer between two merged members (member.merged says that).
    outbox_emit(
        "points.changed",
        member=member_ref(member_id),
        store=Store(pk=store_id) if store_id is not None else None,
        data={
            "entry_id": entry.pk,
            "kind": kind,
            "cause": cause,
            "points": points,
            "delta_pending": pending,
            "delta_posted": posted,
            "delta_reserved": reserved,
            "purchase_id": purchase_id,
        },
        occurred_at=entry.created_at,
    )
    return entry


def member_ref(member_id: int) -> Member:
    return Member(pk=member_id)
