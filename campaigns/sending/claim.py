"""Claiming deliveries: a conditional UPDATE per batch, so a delivery is sent by one worker."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db import connection

from campaigns.models import (
    Campaign,
    Delivery,
)


@dataclass(frozen=True)
class Claimed:
    """A delivery this task claimed: the columns the send path needs, nothing more."""

    pk: int
    member_id: int
    campaign_id: int
    variant_id: int | None
    channel: str
    occurrence: str
    budget_taken: bool
    attempts: int
    claimed_at: datetime.datetime


def deliveries_claim(delivery_ids: list[int], now: datetime.datetime) -> list[Claimed]:
    """Claim pending, due rows: pending -> sending, one UPDATE. A row claimed by someone
    else (a duplicate task) is simply not returned; rows of a campaign no longer sending are
    handed back (cancelled with it, or pending again)."""
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        # "(status = 'pending') IS TRUE" keeps the planner on the primary key: while a
        # campaign sends, statistics on status are stale, and a plan through the status
        # indexes would scan every pending row of the campaign for each batch.
        cursor.execute(
            f"UPDATE {table} AS d SET status = 'sending', claimed_at = %s, "  # noqa: S608
            "attempts = d.attempts + 1 "
            "WHERE d.id = ANY(%s::bigint[]) AND (d.status = 'pending') IS TRUE "
            "AND (d.not_before IS NULL OR d.not_before <= %s) "
            "RETURNING d.id, d.member_id, d.campaign_id, d.variant_id, d.channel, "
            "d.occurrence, d.budget_taken, d.attempts",
            [now, delivery_ids, now],
        )
        rows = [
            Claimed(
                pk=pk,
                member_id=member_id,
                campaign_id=campaign_id,
                variant_id=variant_id,
                channel=channel,
                occurrence=occurrence,
                budget_taken=budget_taken,
                attempts=attempts,
                claimed_at=now,
            )
            for (
                pk,
                member_id,
                campaign_id,
                variant_id,
                channel,
                occurrence,
                budget_taken,
                attempts,
            ) in cursor.fetchall()
        ]
    if not rows:
        return []
    states = dict(
        Campaign.objects.filter(pk__in={r.campaign_id for r in rows}).values_list("pk", "status")
    )
    stopped = [r for r in rows if states.get(r.campaign_id) != Campaign.Status.SENDING]
    if stopped:
        cancelled = [
            r.pk for r in stopped if states.get(r.campaign_id) == Campaign.Status.CANCELLED
        ]
        deliveries_status_set(
            cancelled, now, status=Delivery.Status.CANCELLED, reason="campaign_cancelled"
        )
        deliveries_status_set(
            [r.pk for r in stopped if r.pk not in set(cancelled)],
            now,
            status=Delivery.Status.PENDING,
        )
        rows = [r for r in rows if states.get(r.campaign_id) == Campaign.Status.SENDING]
    return sorted(rows, key=lambda r: (r.member_id, r.pk))


# Columns the send path may set on a claimed row (fixed identifiers, never from input).
SETTABLE = frozenset({"status", "reason", "budget_taken", "not_before", "queued_at"})


def deliveries_status_set(ids: list[int], claim: datetime.datetime, **values: Any) -> int:
    """Update claimed rows, only where this task's claim still holds."""
    if not ids:
        return 0
    assert set(values) <= SETTABLE
    assignments = ", ".join(f"{name} = %s" for name in values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Delivery._meta.db_table} SET {assignments} "  # noqa: S608 - fixed names
            "WHERE id = ANY(%s) AND status = 'sending' AND claimed_at = %s",
            [*values.values(), ids, claim],
        )
        return int(cursor.rowcount)
