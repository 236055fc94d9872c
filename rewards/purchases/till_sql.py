"""The till's purchase in one SQL statement (docs/architecture.md)."""

from __future__ import annotations

import datetime
import functools
import json
from typing import Any

from django.db import IntegrityError, connection

from members.activity import Kind as ActivityKind
from members.activity import activity_recorded
from members.models import ActivityEvent, Member, OutboxEvent, Store
from members.outbox import outbox_emitted
from members.sql_names import sql_names
from rewards.ledger.lock_objects import member_lock_live
from rewards.ledger.lots import lot_expiry
from rewards.models import LedgerEntry, PointBalance, PointLot, Purchase, PurchaseLine
from rewards.purchases.types import LineInput
from rewards.rules import earning


class DuplicateReceipt(IntegrityError):
    """The (store, receipt id) already exists: the caller answers as a replay."""


# One text for every purchase (the lines travel as arrays, unnested): the driver caches its
# parsed form and the server can prepare it, whatever the number of lines. Values the
# inserted purchase already holds are read back from it rather than sent again.
# ``[Model]`` is the model's table and ``[Model.field]`` the field's column, filled in from
# the models' metadata once per process (``_sql``, ``members.sql_names``): no table or
# column name is typed by hand. ``{...}`` are the optional parts and fixed choice values.
_PURCHASE_CTE = """
WITH {member_lock}p AS (
    INSERT INTO [Purchase] ([Purchase.store], [Purchase.receipt_id], [Purchase.member],
        [Purchase.total_ore], [Purchase.purchased_at], [Purchase.recorded_at],
        [Purchase.request_hash], [Purchase.points_earned], [Purchase.points_reversed],
        [Purchase.points_available_at], [Purchase.explanation], [Purchase.claimed_at])
    {values}
    ON CONFLICT ([Purchase.store], [Purchase.receipt_id]) DO NOTHING
    RETURNING [Purchase.pk] AS id, [Purchase.store] AS store_id, [Purchase.member] AS member_id,
        [Purchase.points_earned] AS points_earned,
        [Purchase.points_available_at] AS points_available_at,
        [Purchase.explanation] AS explanation, [Purchase.recorded_at] AS recorded_at
), l AS (
    INSERT INTO [PurchaseLine] ([PurchaseLine.purchase], [PurchaseLine.line_no],
        [PurchaseLine.sku], [PurchaseLine.product], [PurchaseLine.category],
        [PurchaseLine.quantity], [PurchaseLine.unit_price_ore], [PurchaseLine.discount_ore],
        [PurchaseLine.vat_rate_bp], [PurchaseLine.points], [PurchaseLine.returned_quantity],
        [PurchaseLine.points_reversed])
    SELECT p.id, v.line_no, v.sku, v.product_id, v.category_id, v.quantity, v.unit_price_ore,
        v.discount_ore, v.vat_rate_bp, v.points, 0, 0
    FROM p, unnest(%s::int[], %s::text[], %s::bigint[], %s::bigint[], %s::int[],
        %s::bigint[], %s::bigint[], %s::int[], %s::bigint[]) AS v(line_no, sku, product_id,
        category_id, quantity, unit_price_ore, discount_ore, vat_rate_bp, points)
){earn}{event}{outbox}
SELECT p.id, {event_id}, (SELECT array_agg(id) FROM ob) FROM p
"""
# Without a member: the purchase's values as they are.
_PURCHASE_VALUES = "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s::jsonb, NULL)"
# With a member: the member row is locked first (FOR KEY SHARE, as every points write does:
# rewards.ledger.lock_objects.member_lock_live), and a member merged meanwhile (or waited for
# while a merge held the row) gives no row, so nothing is written and ``purchase_write``
# raises ``MemberMergedError``. The values are typed: they are selected, not VALUES.
_PURCHASE_MEMBER_LOCK = """who AS (
    SELECT [Member.pk] AS id FROM [Member]
    WHERE [Member.pk] = %s AND [Member.merged_into] IS NULL
    FOR KEY SHARE
), """
_PURCHASE_MEMBER_VALUES = """SELECT %s::bigint, %s::text, who.id, %s::bigint, %s::timestamptz,
        %s::timestamptz, %s::text, %s::bigint, 0, %s::timestamptz, %s::jsonb,
        NULL::timestamptz
    FROM who"""
# With a member and points: the earn entry, its lot and the balance. Parameters: whether the
# points are matured (posted at once), the lot's expiry.
_PURCHASE_EARN_CTE = """, e AS (
    INSERT INTO [LedgerEntry] ([LedgerEntry.member], [LedgerEntry.kind], [LedgerEntry.points],
        [LedgerEntry.delta_pending], [LedgerEntry.delta_posted], [LedgerEntry.delta_reserved],
        [LedgerEntry.cause], [LedgerEntry.purchase], [LedgerEntry.reservation],
        [LedgerEntry.event_rule], [LedgerEntry.explanation], [LedgerEntry.reason],
        [LedgerEntry.store], [LedgerEntry.actor], [LedgerEntry.idempotency_key],
        [LedgerEntry.created_at])
    SELECT p.member_id, '{entry_earn}', p.points_earned, CASE WHEN m.matured THEN 0
        ELSE p.points_earned END, CASE WHEN m.matured THEN p.points_earned ELSE 0 END, 0,
        '{cause_purchase}', p.id, NULL, NULL, p.explanation, '', p.store_id, NULL,
        'purchase:' || p.id || ':earn', p.recorded_at
    FROM p, (SELECT %s::boolean AS matured) AS m
    RETURNING [LedgerEntry.pk] AS id, [LedgerEntry.member] AS member_id,
        [LedgerEntry.purchase] AS purchase_id, [LedgerEntry.points] AS points,
        [LedgerEntry.delta_pending] AS delta_pending, [LedgerEntry.delta_posted] AS delta_posted,
        [LedgerEntry.created_at] AS created_at
), lot AS (
    INSERT INTO [PointLot] ([PointLot.member], [PointLot.entry], [PointLot.purchase],
        [PointLot.amount], [PointLot.remaining], [PointLot.available_at], [PointLot.matured],
        [PointLot.expires_at])
    SELECT e.member_id, e.id, e.purchase_id, e.points, e.points, p.points_available_at,
        e.delta_pending = 0, %s
    FROM e, p
), b AS (
    INSERT INTO [PointBalance] ([PointBalance.member], [PointBalance.pending],
        [PointBalance.posted], [PointBalance.reserved], [PointBalance.updated_at])
    SELECT e.member_id, e.delta_pending, e.delta_posted, 0, e.created_at FROM e
    ON CONFLICT ([PointBalance.member]) DO UPDATE SET
        [PointBalance.pending] = [PointBalance].[PointBalance.pending]
            + excluded.[PointBalance.pending],
        [PointBalance.posted] = [PointBalance].[PointBalance.posted]
            + excluded.[PointBalance.posted],
        [PointBalance.updated_at] = excluded.[PointBalance.updated_at]
)"""
# With a member: the "purchased" event on their timeline (members.activity), its facts
# those of activity_record's ``data``: the purchase id added to the JSON sent.
_PURCHASE_EVENT_CTE = """, ev AS (
    INSERT INTO [ActivityEvent] ([ActivityEvent.member], [ActivityEvent.kind],
        [ActivityEvent.data], [ActivityEvent.source], [ActivityEvent.actor],
        [ActivityEvent.store], [ActivityEvent.created_at])
    SELECT p.member_id, %s, jsonb_build_object('purchase_id', p.id) || %s::jsonb,
        '{source_api}', NULL, p.store_id, p.recorded_at
    FROM p
    RETURNING [ActivityEvent.pk] AS id
)"""

# Every purchase: its public events in the outbox (members.outbox, docs/webhooks.md), in
# the same statement: "purchase.recorded" (its facts: the purchase id and points added to
# the JSON sent) and, with points, "points.changed" for the earn entry. The uuid and the
# feed position are the table's defaults (a random UUID, NULL until sequenced).
_PURCHASE_OUTBOX_CTE = """, ob AS (
    INSERT INTO [OutboxEvent] ([OutboxEvent.type], [OutboxEvent.version],
        [OutboxEvent.member], [OutboxEvent.store], [OutboxEvent.data],
        [OutboxEvent.occurred_at])
    SELECT 'purchase.recorded', 1, p.member_id, p.store_id,
        jsonb_build_object('purchase_id', p.id, 'points_earned', p.points_earned) || %s::jsonb,
        p.recorded_at
    FROM p{points_changed}
    RETURNING [OutboxEvent.pk] AS id
)"""
_PURCHASE_OUTBOX_POINTS = """
    UNION ALL
    SELECT 'points.changed', 1, e.member_id, p.store_id, jsonb_build_object('entry_id', e.id,
        'kind', '{entry_earn}', 'cause', '{cause_purchase}', 'points', e.points,
        'delta_pending', e.delta_pending, 'delta_posted', e.delta_posted, 'delta_reserved', 0,
        'purchase_id', e.purchase_id), e.created_at
    FROM e, p"""

_MODELS = (
    Purchase,
    PurchaseLine,
    LedgerEntry,
    PointLot,
    PointBalance,
    ActivityEvent,
    Member,
    OutboxEvent,
)


@functools.cache
def _sql(*, earns: bool, event: bool) -> str:
    """The statement for a purchase with or without points and a member, built once."""
    return sql_names(_PURCHASE_CTE, *_MODELS).format(
        member_lock=sql_names(_PURCHASE_MEMBER_LOCK, *_MODELS) if event else "",
        values=_PURCHASE_MEMBER_VALUES if event else _PURCHASE_VALUES,
        earn=sql_names(_PURCHASE_EARN_CTE, *_MODELS).format(
            entry_earn=LedgerEntry.Kind.EARN.value, cause_purchase=LedgerEntry.Cause.PURCHASE.value
        )
        if earns
        else "",
        event=sql_names(_PURCHASE_EVENT_CTE, *_MODELS).format(source_api="api") if event else "",
        event_id="(SELECT id FROM ev)" if event else "NULL",
        outbox=sql_names(_PURCHASE_OUTBOX_CTE, *_MODELS).format(
            points_changed=_PURCHASE_OUTBOX_POINTS.format(
                entry_earn=LedgerEntry.Kind.EARN.value,
                cause_purchase=LedgerEntry.Cause.PURCHASE.value,
            )
            if earns
            else ""
        ),
    )


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
    vat_rates: list[int],
    available_at: datetime.datetime,
    matured: bool,
) -> tuple[Purchase, list[PurchaseLine]]:
    """Write the purchase, its lines and, with a member (locked first: a member merged
    meanwhile raises ``MemberMergedError`` and nothing is written), the "purchased" event on their
    timeline and (with points) the earn entry, its lot and the balance. Raises
    ``DuplicateReceipt`` when the receipt exists. Call in a transaction.

    One statement (a chain of data-modifying CTEs): recording a purchase is the hottest
    write of the system and round trips dominate its cost (docs/benchmarks.md). A
    concurrent duplicate waits in ``ON CONFLICT`` until the first commits and then inserts
    nothing. ``vat_rates``: each line's VAT rate in basis points (the receipt's VAT)."""
    earns = member is not None and calc.total > 0
    points_available_at = available_at if member is not None and calc.total else None
    # The timeline event's facts, but the purchase id (known once it is inserted).
    event_data = {"total_ore": total_ore, "points": calc.total, "channel": store.kind}
    # The public event's facts (members.outbox.EVENT_TYPES), but the purchase id and points.
    outbox_data = {
        "receipt_id": receipt_id,
        "total_ore": total_ore,
        "purchased_at": purchased_at.isoformat(),
    }
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
            vat_rate_bp=vat_rate_bp,
            points=calc.line_points[index - 1],
        )
        for index, (line, item, vat_rate_bp) in enumerate(
            zip(lines, line_inputs, vat_rates, strict=True), 1
        )
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
                    line.vat_rate_bp,
                    line.points,
                )
                for line in purchase_lines
            ),
            strict=True,
        )
    ]
    params: list[Any] = [
        *([member.pk] if member is not None else []),  # the member lock's, with a member
        store.pk,
        receipt_id,
        *([] if member is not None else [None]),  # with a member: the locked row's id
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
    params.append(json.dumps(outbox_data))
    sql = _sql(earns=earns, event=member is not None)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        if member is not None:
            member_lock_live(member_id=member.pk)  # merged meanwhile: MemberMergedError
        raise DuplicateReceipt()
    purchase.pk, event_id, outbox_ids = row
    if event_id is not None:
        activity_recorded(event_id=event_id, kind=ActivityKind.PURCHASED)
    outbox_emitted(outbox_ids or [])
    for line in purchase_lines:
        line.purchase = purchase
    return purchase, purchase_lines
