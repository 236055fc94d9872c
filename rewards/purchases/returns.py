"""Returns: lines back, their points reversed."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F

from members.activity import Kind as ActivityKind
from members.activity import activity_record
from members.models import Store
from members.outbox import outbox_emit
from rewards.errors import (
    DuplicateReturnConflictError,
    ReturnExceedsPurchaseError,
    UnknownLineError,
    UnknownReceiptError,
)
from rewards.ledger.balances import balance_apply, balance_lock
from rewards.ledger.entries import Cause, Entry, entry_write, member_ref
from rewards.ledger.idempotency import request_fingerprint
from rewards.ledger.lock_objects import (
    lots_select_for_update,
    member_lock_resolved,
    purchases_select_for_update,
)
from rewards.ledger.lots import lots_consume
from rewards.models import (
    PointLot,
    Purchase,
    PurchaseLine,
    Return,
)


def purchase_return(
    *,
    store: Store,
    receipt_id: str,
    return_id: str,
    lines: list[tuple[int, int]] | None = None,
) -> tuple[Return, bool]:
    """Return a whole purchase (``lines=None``) or some of its lines ``[(line_no, qty)]``.

    Points are reversed pro rata per line, cumulatively, so rounding never lets returns
    take back more than the line earned. Pending points are cancelled; available ones are
    taken back as far as the member still has them (the rest is recorded as unrecovered).
    Idempotent by (store, return id)."""
    fingerprint = request_fingerprint({"receipt": receipt_id, "lines": lines})
    try:
        with transaction.atomic():
            # The member row before the purchase row: a merge locks the members, then moves
            # their purchases (docs/ledger.md "Concurrency").
            member_id = (
                Purchase.objects.filter(store=store, receipt_id=receipt_id)
                .values_list("member_id", flat=True)
                .first()
            )
            if member_id is not None:
                member_lock_resolved(member_id=member_id)
            purchase = (
                purchases_select_for_update().filter(store=store, receipt_id=receipt_id).first()
            )
            if purchase is None:
                raise UnknownReceiptError()
            existing = Return.objects.filter(store=store, return_id=return_id).first()
            if existing is not None:
                if existing.request_hash != fingerprint:
                    raise DuplicateReturnConflictError()
                return existing, False
            return _purchase_return_locked(
                purchase=purchase,
                store=store,
                return_id=return_id,
                lines=lines,
                fingerprint=fingerprint,
            ), True
    except IntegrityError:
        existing = Return.objects.filter(store=store, return_id=return_id).first()
        if existing is None:
            raise
    if existing.request_hash != fingerprint:
        raise DuplicateReturnConflictError()
    return existing, False


def _purchase_return_locked(
    *,
    purchase: Purchase,
    store: Store,
    return_id: str,
    lines: list[tuple[int, int]] | None,
    fingerprint: str,
) -> Return:
    by_no = {line.line_no: line for line in purchase.lines.order_by("line_no")}
    if lines is None:
        wanted = {no: line.quantity - line.returned_quantity for no, line in by_no.items()}
        wanted = {no: qty for no, qty in wanted.items() if qty > 0}
        if not wanted:
            raise ReturnExceedsPurchaseError()
    else:
        wanted = {}
        for line_no, quantity in lines:
            if line_no not in by_no:
                raise UnknownLineError(line_no=line_no)
            wanted[line_no] = wanted.get(line_no, 0) + quantity
    due = 0
    changed = []
    for line_no, quantity in sorted(wanted.items()):
        line = by_no[line_no]
        if quantity <= 0 or line.returned_quantity + quantity > line.quantity:
            raise ReturnExceedsPurchaseError(line_no=line_no)
        line.returned_quantity += quantity
        target = line.points * line.returned_quantity // line.quantity
        due += target - line.points_reversed
        line.points_reversed = target
        changed.append(line)
    PurchaseLine.objects.bulk_update(changed, ["returned_quantity", "points_reversed"])
    taken = 0
    if purchase.member_id is not None and due > 0:
        balance = balance_lock(purchase.member_id)
        lot = lots_select_for_update(member_id=purchase.member_id).filter(purchase=purchase).first()
        assert balance is not None
        if lot is not None and not lot.matured:
            taken = min(due, lot.remaining)
            pending, posted = -taken, 0
            PointLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - taken)
        else:
            taken = min(due, balance.available)
            pending, posted = 0, -taken
            if taken:
                lots_consume(purchase.member_id, taken, first=lot)
        if taken:
            entry_write(
                member_id=purchase.member_id,
                kind=Entry.REVERSE,
                points=taken,
                cause=Cause.RETURN,
                key=f"return:{store.pk}:{return_id}",
                purchase_id=purchase.pk,
                store_id=store.pk,
                pending=pending,
                posted=posted,
            )
            balance_apply(balance, pending=pending, posted=posted)
            Purchase.objects.filter(pk=purchase.pk).update(
                points_reversed=F("points_reversed") + taken
            )
    ret = Return.objects.create(
        store=store,
        return_id=return_id,
        purchase=purchase,
        request_hash=fingerprint,
        points_reversed=taken,
        points_unrecovered=max(0, due - taken) if purchase.member_id else 0,
        lines=[[no, qty] for no, qty in sorted(wanted.items())],
    )
    # The public event (members.outbox), for every return, with a member or without.
    outbox_emit(
        "purchase.returned",
        member=member_ref(purchase.member_id) if purchase.member_id is not None else None,
        store=store,
        data={"purchase_id": purchase.pk, "return_id": ret.pk, "points_reversed": taken},
    )
    if purchase.member_id is not None:
        activity_record(
            member=member_ref(purchase.member_id),
            kind=ActivityKind.RETURNED,
            data={"purchase_id": purchase.pk, "return_id": ret.pk, "points": -taken},
            source="api",
            store=store,
        )
    return ret
