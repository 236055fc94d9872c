"""The till's purchase in one SQL statement (docs/architecture.md)."""

from __future__ import annotations

import datetime
import json
from typing import Any

from django.db import IntegrityError, connection

from members.activity import Kind as ActivityKind
from members.activity import activity_recorded
from members.models import Member, Store
from rewards.ledger.lots import lot_expiry
from rewards.models import (
    Purchase,
    PurchaseLine,
)
from rewards.purchases.types import LineInput
from rewards.rules import earning


class DuplicateReceipt(IntegrityError):
    """The (store, receipt id) already exists: the caller answers as a replay."""


# One text for every purchase (the lines travel as arrays, unnested): the driver caches its
# parsed form and the server can prepare it, whatever the number of lines. Values the
# inserted purchase already holds are read back from it rather than sent again.
_PURCHASE_CTE = """
WITH p AS (
    INSERT INTO rewards_purchase (store_id, receipt_id, member_id, total_ore, purchased_at,
        recorded_at, request_hash, points_earned, points_reversed, points_available_at,
        explanation, claimed_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s::jsonb, NULL)
    ON CONFLICT (store_id, receipt_id) DO NOTHING
    RETURNING id, store_id, member_id, points_earned, points_available_at, explanation,
        recorded_at
), l AS (
    INSERT INTO rewards_purchaseline (purchase_id, line_no, sku, product_id, category_id,
        quantity, unit_price_ore, discount_ore, points, returned_quantity, points_reversed)
    SELECT p.id, v.line_no, v.sku, v.product_id, v.category_id, v.quantity, v.unit_price_ore,
        v.discount_ore, v.points, 0, 0
    FROM p, unnest(%s::int[], %s::text[], %s::bigint[], %s::bigint[], %s::int[],
        %s::bigint[], %s::bigint[], %s::bigint[]) AS v(line_no, sku, product_id, category_id,
        quantity, unit_price_ore, discount_ore, points)
){earn}{event}
SELECT p.id, {event_id} FROM p
"""


# With a member and points: the earn entry, its lot and the balance. Parameters: whether the
# points are matured (posted at once), the lot's expiry.
_PURCHASE_EARN_CTE = """, e AS (
    INSERT INTO rewards_ledgerentry (member_id, kind, points, delta_pending, delta_posted,
        delta_reserved, cause, purchase_id, reservation_id, event_rule_id, explanation, reason,
        store_id, actor_id, idempotency_key, created_at)
    SELECT p.member_id, 'earn', p.points_earned, CASE WHEN m.matured THEN 0 ELSE p.points_earned
        END, CASE WHEN m.matured THEN p.points_earned ELSE 0 END, 0, 'purchase', p.id, NULL,
        NULL, p.explanation, '', p.store_id, NULL, 'purchase:' || p.id || ':earn',
        p.recorded_at
    FROM p, (SELECT %s::boolean AS matured) AS m
    RETURNING id, member_id, purchase_id, points, delta_pending, delta_posted, created_at
), lot AS (
    INSERT INTO rewards_pointlot (member_id, entry_id, purchase_id, amount, remaining,
        available_at, matured, expires_at)
    SELECT e.member_id, e.id, e.purchase_id, e.points, e.points, p.points_available_at,
        e.delta_pending = 0, %s
    FROM e, p
), b AS (
    INSERT INTO rewards_pointbalance (member_id, pending, posted, reserved, updated_at)
    SELECT e.member_id, e.delta_pending, e.delta_posted, 0, e.created_at FROM e
    ON CONFLICT (member_id) DO UPDATE SET
        pending = rewards_pointbalance.pending + excluded.pending,
        posted = rewards_pointbalance.posted + excluded.posted,
        updated_at = excluded.updated_at
)"""


# With a member: the "purchased" event on their timeline (members.activity), its facts
# those of activity_record's ``data``: the purchase id added to the JSON sent.
_PURCHASE_EVENT_CTE = """, ev AS (
    INSERT INTO members_activityevent (member_id, kind, data, source, actor_id, store_id,
        created_at)
    SELECT p.member_id, %s, jsonb_build_object('purchase_id', p.id) || %s::jsonb, 'api', NULL,
        p.store_id, p.recorded_at
    FROM p
    RETURNING id
)"""


def purchase_write(
    *,
    store: Store,
    receipt_id: str,
    member: Member | None,
    total_ore: int,
    purchased_at: datetime.datetime,
    now: datetime.datetime,
    fingerprint: str,
    calc: earning.Earning,
    lines: list[LineInput],
    line_inputs: list[earning.LineForEarning],
    available_at: datetime.datetime,
    matured: bool,
) -> tuple[Purchase, list[PurchaseLine]]:
    """Write the purchase, its lines and, with a member, the "purchased" event on their
    timeline and (with points) the earn entry, its lot and the balance. Raises
    ``DuplicateReceipt`` when the receipt exists. Call in a transaction.

    One statement (a chain of data-modifying CTEs): recording a purchase is the hottest
    write of the system and round trips dominate its cost (docs/benchmarks.md). A
    concurrent duplicate waits in ``ON CONFLICT`` until the first commits and then inserts
    nothing."""
    earns = member is not None and calc.total > 0
    points_available_at = available_at if member is not None and calc.total else None
    # The timeline event's facts, but the purchase id (known once it is inserted).
    event_data = {"total_ore": total_ore, "points": calc.total, "channel": store.kind}
    purchase = Purchase(
        store=store,
        receipt_id=receipt_id,
        member=member,
        total_ore=total_ore,
        purchased_at=purchased_at,
        recorded_at=now,
        request_hash=fingerprint,
        points_earned=calc.total,
        points_available_at=points_available_at,
        explanation=calc.explanation,
    )
    purchase_lines = [
        PurchaseLine(
            line_no=index,
            sku=line.sku,
            product_id=item.product_id or 0,  # always set: products_resolve gave an id
            category_id=item.category_id,
            quantity=line.quantity,
            unit_price_ore=line.unit_price_ore,
            discount_ore=line.discount_ore,
            points=calc.line_points[index - 1],
        )
        for index, (line, item) in enumerate(zip(lines, line_inputs, strict=True), 1)
    ]
    # One array per line column, in _PURCHASE_CTE's unnest order.
    columns = [
        list(column)
        for column in zip(
            *(
                (
                    line.line_no,
                    line.sku,
                    line.product_id,
                    line.category_id,
                    line.quantity,
                    line.unit_price_ore,
                    line.discount_ore,
                    line.points,
                )
                for line in purchase_lines
            ),
            strict=True,
        )
    ]
    params: list[Any] = [
        store.pk,
        receipt_id,
        member.pk if member else None,
        total_ore,
        purchased_at,
        now,
        fingerprint,
        calc.total,
        points_available_at,
        json.dumps(calc.explanation),
        *columns,
    ]
    if earns:
        params += [matured, lot_expiry(available_at)]
    if member is not None:
        params += [ActivityKind.PURCHASED.value, json.dumps(event_data)]
    sql = _PURCHASE_CTE.format(
        earn=_PURCHASE_EARN_CTE if earns else "",
        event=_PURCHASE_EVENT_CTE if member is not None else "",
        event_id="(SELECT id FROM ev)" if member is not None else "NULL",
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        raise DuplicateReceipt()
    purchase.pk, event_id = row
    if event_id is not None:
        activity_recorded(event_id=event_id, kind=ActivityKind.PURCHASED)
    for line in purchase_lines:
        line.purchase = purchase
    return purchase, purchase_lines
