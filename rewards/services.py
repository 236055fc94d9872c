"""Writes for the points ledger, purchases, returns, reservations and earning events.

Rules every function here keeps (docs/ledger.md):

- Each change is one or more immutable ``LedgerEntry`` rows whose deltas add up to the
  member's ``PointBalance``, written in the same transaction (I1).
- Lock order, always: purchase row, then the member's balance row, then reservations and
  lots. Two tills may spend the same points: the balance row lock serialises them, and the
  balance is re-checked under it; the CHECK constraints back it (I2).
- Every entry has a unique idempotency key; API requests also store their answer in an
  ``IdempotencyRecord`` so a replay gets the identical answer and another body gets 409 (I3).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from members.activity import Kind as ActivityKind
from members.activity import activity_record, activity_recorded
from members.models import Member, Store, User
from rewards import earning
from rewards.errors import (
    CaptureExceedsReservationError,
    DuplicateReceiptConflictError,
    DuplicateReturnConflictError,
    IdempotencyConflictError,
    InsufficientPointsError,
    PurchaseAlreadyClaimedError,
    PurchaseClaimLimitedError,
    PurchaseNotClaimableError,
    ReservationExpiredError,
    ReservationResolvedError,
    ReturnExceedsPurchaseError,
    UnknownLineError,
    UnknownReceiptError,
    UnknownReservationError,
)
from rewards.models import (
    Category,
    EventRule,
    IdempotencyRecord,
    LedgerEntry,
    PointBalance,
    PointLot,
    Product,
    Purchase,
    PurchaseLine,
    Reservation,
    Return,
)

Entry = LedgerEntry.Kind
Cause = LedgerEntry.Cause

# --- helpers --------------------------------------------------------------------------------


def request_fingerprint(payload: Any) -> str:
    """SHA-256 of a canonical JSON form: equal requests, equal fingerprints."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def lot_expiry(earned_at: datetime.datetime) -> datetime.datetime:
    """When points earned at ``earned_at`` expire: at the start of a Stockholm day."""
    local = timezone.localtime(earned_at).date()
    if settings.REWARDS_EXPIRY_MODE == "end_of_following_year":
        day = datetime.date(local.year + 2, 1, 1)
    else:
        months = local.month - 1 + settings.REWARDS_EXPIRY_MONTHS
        year, month = local.year + months // 12, months % 12 + 1
        for last in (31, 30, 29, 28):
            try:
                day = datetime.date(year, month, min(local.day, last))
                break
            except ValueError:
                continue
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


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


def _balance_credit(member_id: int, *, pending: int = 0, posted: int = 0) -> None:
    """Add non-negative points in one statement (creates the row on first earning)."""
    assert pending >= 0
    assert posted >= 0
    with connection.cursor() as cursor:
        cursor.execute(_BALANCE_UPSERT, [member_id, pending, posted, timezone.now()])


def _balance_apply(
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


def _balance_lock(member_id: int, *, create: bool = False) -> PointBalance | None:
    """Lock the member's balance row (the lock every spending path takes first), then make
    due pending lots available, so the re-check under the lock sees today's balance."""
    balance = PointBalance.objects.select_for_update().filter(member_id=member_id).first()
    if balance is None:
        if not create:
            return None
        _balance_credit(member_id)
        balance = PointBalance.objects.select_for_update().get(member_id=member_id)
    now = timezone.now()
    due = list(
        PointLot.objects.select_for_update()
        .filter(member_id=member_id, matured=False, available_at__lte=now)
        .order_by("id")
    )
    for lot in due:
        _lot_mature(lot, balance)
    return balance


def _entry(
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
    return LedgerEntry.objects.create(
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


def _lot_mature(lot: PointLot, balance: PointBalance) -> None:
    """Pending -> posted for one lot (locked by the caller, with the member's balance)."""
    if lot.remaining:
        _entry(
            member_id=lot.member_id,
            kind=Entry.MATURE,
            points=lot.remaining,
            pending=-lot.remaining,
            posted=lot.remaining,
            cause=Cause.SYSTEM,
            key=f"mature:{lot.pk}",
            purchase_id=lot.purchase_id,
        )
        _balance_apply(balance, pending=-lot.remaining, posted=lot.remaining)
    PointLot.objects.filter(pk=lot.pk).update(matured=True)
    lot.matured = True


def _lots_consume(member_id: int, points: int, *, first: PointLot | None = None) -> None:
    """Take ``points`` from the member's available lots, oldest expiry first (FIFO).

    Call with the member's balance locked and the amount already checked against it."""
    lots = list(
        PointLot.objects.select_for_update()
        .filter(member_id=member_id, matured=True, remaining__gt=0)
        .order_by("expires_at", "id")
    )
    if first is not None:
        lots.sort(key=lambda lot: lot.pk != first.pk)
    changed = []
    for lot in lots:
        if points <= 0:
            break
        take = min(points, lot.remaining)
        lot.remaining -= take
        points -= take
        changed.append(lot)
    if points > 0:  # pragma: no cover - the balance and the lots disagree (I1 broken)
        raise RuntimeError(f"Member {member_id}'s lots hold fewer points than their balance.")
    PointLot.objects.bulk_update(changed, ["remaining"])


def _lot_create(
    *,
    member_id: int,
    entry: LedgerEntry,
    points: int,
    available_at: datetime.datetime,
    matured: bool,
    purchase_id: int | None = None,
) -> PointLot:
    return PointLot.objects.create(
        member_id=member_id,
        entry=entry,
        purchase_id=purchase_id,
        amount=points,
        remaining=points,
        available_at=available_at,
        matured=matured,
        expires_at=lot_expiry(available_at),
    )


def _idempotent(
    *, key: str, payload: dict[str, Any], work: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """Run ``work`` once per key; a replay returns the stored answer, another body is 409.

    The record is inserted first: a concurrent duplicate waits on the unique index until
    the first commits, then fails and reads the answer the first stored."""
    fingerprint = request_fingerprint(payload)
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(key=key, request_hash=fingerprint)
            result = work()
            IdempotencyRecord.objects.filter(pk=record.pk).update(response=result)
            return result
    except IntegrityError:
        stored = IdempotencyRecord.objects.filter(key=key).first()
        if stored is None:
            raise
    if stored.request_hash != fingerprint:
        raise IdempotencyConflictError()
    return stored.response


def _member_ref(member_id: int) -> Member:
    return Member(pk=member_id)


# --- earning --------------------------------------------------------------------------------


def points_earn(
    *,
    member: Member,
    points: int,
    cause: str,
    idempotency_key: str,
    explanation: list[dict[str, Any]] | None = None,
    reason: str = "",
    actor: User | None = None,
    store: Store | None = None,
    pending_days: int = 0,
    event_rule: EventRule | None = None,
) -> LedgerEntry:
    """Credit points as a new lot (pending for ``pending_days``). Replaying the key is a no-op
    that returns the first entry."""
    if points <= 0:
        raise ValidationError({"points": _("Points must be a positive whole number.")})
    existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    now = timezone.now()
    available_at = now + datetime.timedelta(days=pending_days)
    matured = pending_days <= 0
    try:
        return _points_earn_new(
            member=member,
            points=points,
            cause=cause,
            idempotency_key=idempotency_key,
            explanation=explanation,
            reason=reason,
            actor=actor,
            store=store,
            event_rule=event_rule,
            available_at=available_at,
            matured=matured,
        )
    except IntegrityError:
        # A concurrent call with the same key committed first: answer with its entry.
        existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        return existing


def _points_earn_new(
    *,
    member: Member,
    points: int,
    cause: str,
    idempotency_key: str,
    explanation: list[dict[str, Any]] | None,
    reason: str,
    actor: User | None,
    store: Store | None,
    event_rule: EventRule | None,
    available_at: datetime.datetime,
    matured: bool,
) -> LedgerEntry:
    with transaction.atomic():
        entry = _entry(
            member_id=member.pk,
            kind=Entry.EARN,
            points=points,
            pending=0 if matured else points,
            posted=points if matured else 0,
            cause=cause,
            key=idempotency_key,
            explanation=explanation,
            reason=reason,
            actor=actor,
            store_id=store.pk if store else None,
            event_rule_id=event_rule.pk if event_rule else None,
        )
        _lot_create(
            member_id=member.pk,
            entry=entry,
            points=points,
            available_at=available_at,
            matured=matured,
        )
        _balance_credit(
            member.pk, pending=0 if matured else points, posted=points if matured else 0
        )
    return entry


# --- spending -------------------------------------------------------------------------------


def _check_points(points: int) -> None:
    if not isinstance(points, int) or isinstance(points, bool) or points <= 0:
        raise ValidationError({"points": _("Points must be a positive whole number.")})


def points_redeem(
    *,
    member: Member,
    points: int,
    idempotency_key: str,
    store: Store | None = None,
    actor: User | None = None,
    reference: str = "",
) -> dict[str, Any]:
    """Spend available points in one step. Raises ``InsufficientPointsError``."""
    _check_points(points)

    def work() -> dict[str, Any]:
        balance = _balance_lock(member.pk)
        # Re-check under the lock: another till may have spent these points a moment ago.
        if balance is None or balance.available < points:
            raise InsufficientPointsError(available=balance.available if balance else 0)
        entry = _entry(
            member_id=member.pk,
            kind=Entry.REDEEM,
            points=points,
            posted=-points,
            cause=Cause.REWARD,
            key=f"redeem:{idempotency_key}",
            reason=reference,
            store_id=store.pk if store else None,
            actor=actor,
        )
        _lots_consume(member.pk, points)
        _balance_apply(balance, posted=-points)
        activity_record(
            member=member,
            kind=ActivityKind.POINTS_REDEEMED,
            data={"entry_id": entry.pk, "points": points},
            source="api" if store else "system",
            store=store,
        )
        return {"entry_id": entry.pk, "points": points, "balance": balance_snapshot(balance)}

    return _idempotent(
        key=idempotency_key,
        payload={"op": "redeem", "member": member.pk, "points": points, "reference": reference},
        work=work,
    )


def points_reserve(
    *,
    member: Member,
    points: int,
    idempotency_key: str,
    store: Store | None = None,
    reference: str = "",
    timeout_seconds: int | None = None,
) -> dict[str, Any]:
    """Hold points for a checkout; they cannot be spent elsewhere until captured, released
    or timed out (then a beat task releases them)."""
    _check_points(points)
    timeout = timeout_seconds or settings.REWARDS_RESERVATION_SECONDS

    def work() -> dict[str, Any]:
        balance = _balance_lock(member.pk)
        if balance is None or balance.available < points:
            raise InsufficientPointsError(available=balance.available if balance else 0)
        now = timezone.now()
        reservation = Reservation.objects.create(
            member=member,
            store=store,
            amount=points,
            reference=reference,
            created_at=now,
            expires_at=now + datetime.timedelta(seconds=timeout),
        )
        _entry(
            member_id=member.pk,
            kind=Entry.RESERVE,
            points=points,
            reserved=points,
            cause=Cause.RESERVATION,
            key=f"reserve:{reservation.pk}",
            reservation_id=reservation.pk,
            store_id=store.pk if store else None,
        )
        _balance_apply(balance, reserved=points)
        return {
            "reservation_id": reservation.pk,
            "points": points,
            "status": reservation.status,
            "expires_at": reservation.expires_at.isoformat(),
            "balance": balance_snapshot(balance),
        }

    return _idempotent(
        key=idempotency_key,
        payload={
            "op": "reserve",
            "member": member.pk,
            "points": points,
            "reference": reference,
            "timeout": timeout,
        },
        work=work,
    )


def _reservation_resolve(
    *,
    reservation_id: int,
    store: Store | None,
    status: str,
    captured: int = 0,
    actor: User | None = None,
    allow_expired: bool = False,
) -> dict[str, Any]:
    """Capture, release or time out a reservation: exactly once (I4). Call in a transaction.

    Another store's reservation is not found, exactly like an unknown id (docs/security.md)."""
    found = Reservation.objects.filter(pk=reservation_id)
    if store is not None:
        found = found.filter(store_id=store.pk)
    member_id = found.values_list("member_id", flat=True).first()
    if member_id is None:
        raise UnknownReservationError()
    balance = _balance_lock(member_id)
    reservation = Reservation.objects.select_for_update().get(pk=reservation_id)
    if reservation.status != Reservation.Status.ACTIVE:
        raise ReservationResolvedError(status=reservation.status)
    now = timezone.now()
    if not allow_expired and reservation.expires_at <= now:
        raise ReservationExpiredError()
    if captured > reservation.amount:
        raise CaptureExceedsReservationError(reserved=reservation.amount)
    assert balance is not None
    kind = Entry.REDEEM if status == Reservation.Status.CAPTURED else Entry.RELEASE
    entry = _entry(
        member_id=member_id,
        kind=kind,
        points=captured if kind == Entry.REDEEM else reservation.amount,
        posted=-captured,
        reserved=-reservation.amount,
        cause=Cause.RESERVATION,
        key=f"resolve:{reservation.pk}",
        reservation_id=reservation.pk,
        store_id=reservation.store_id,
        actor=actor,
    )
    if captured:
        _lots_consume(member_id, captured)
    _balance_apply(balance, posted=-captured, reserved=-reservation.amount)
    # The status filter is the last guard: only one resolution can move it off "active".
    updated = Reservation.objects.filter(
        pk=reservation.pk, status=Reservation.Status.ACTIVE
    ).update(status=status, captured=captured, resolved_at=now)
    assert updated == 1
    if captured:
        activity_record(
            member=_member_ref(member_id),
            kind=ActivityKind.POINTS_REDEEMED,
            data={"entry_id": entry.pk, "points": captured, "reservation_id": reservation.pk},
            source="api",
            store=reservation.store,
        )
    return {
        "reservation_id": reservation.pk,
        "status": status,
        "points": reservation.amount,
        "captured": captured,
        "balance": balance_snapshot(balance),
    }


def reservation_capture(
    *, reservation_id: int, points: int, idempotency_key: str, store: Store | None = None
) -> dict[str, Any]:
    """Spend ``points`` (at most the reserved amount) and release the rest."""
    _check_points(points)
    return _idempotent(
        key=idempotency_key,
        payload={"op": "capture", "reservation": reservation_id, "points": points},
        work=lambda: _reservation_resolve(
            reservation_id=reservation_id,
            store=store,
            status=Reservation.Status.CAPTURED,
            captured=points,
        ),
    )


def reservation_release(
    *, reservation_id: int, idempotency_key: str, store: Store | None = None
) -> dict[str, Any]:
    """Give the reserved points back to the member."""
    return _idempotent(
        key=idempotency_key,
        payload={"op": "release", "reservation": reservation_id},
        work=lambda: _reservation_resolve(
            reservation_id=reservation_id,
            store=store,
            status=Reservation.Status.RELEASED,
            allow_expired=True,
        ),
    )


def reservations_timeout(*, limit: int = 1000) -> int:
    """Release every reservation past its timeout (beat). Safe to run concurrently."""
    now = timezone.now()
    ids = list(
        Reservation.objects.filter(status=Reservation.Status.ACTIVE, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    done = 0
    for reservation_id in ids:
        try:
            with transaction.atomic():
                _reservation_resolve(
                    reservation_id=reservation_id,
                    store=None,
                    status=Reservation.Status.EXPIRED,
                    allow_expired=True,
                )
            done += 1
        except ReservationResolvedError:
            continue  # captured or released meanwhile
    return done


# --- staff adjustments ----------------------------------------------------------------------


def points_adjust(
    *, member: Member, points: int, reason: str, actor: User | None, idempotency_key: str
) -> LedgerEntry:
    """A manual correction by staff: positive credits a new lot, negative takes available
    points FIFO. The reason is mandatory; who and why stay on the entry for audit."""
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    if not reason:
        errors["reason"] = _("Give a reason for the adjustment.")
    if not isinstance(points, int) or points == 0 or abs(points) > 10_000_000:
        errors["points"] = _("Enter a whole number of points, not zero.")
    if errors:
        raise ValidationError(errors)
    existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        balance = _balance_lock(member.pk, create=True)
        assert balance is not None
        if points < 0 and balance.available < -points:
            raise InsufficientPointsError(available=balance.available)
        entry = _entry(
            member_id=member.pk,
            kind=Entry.ADJUST,
            points=abs(points),
            posted=points,
            cause=Cause.STAFF,
            key=idempotency_key,
            reason=reason,
            actor=actor,
        )
        if points > 0:
            now = timezone.now()
            _lot_create(
                member_id=member.pk, entry=entry, points=points, available_at=now, matured=True
            )
        else:
            _lots_consume(member.pk, -points)
        _balance_apply(balance, posted=points)
        activity_record(
            member=member,
            kind=ActivityKind.POINTS_ADJUSTED,
            data={"entry_id": entry.pk, "points": points},
            source="staff",
            actor=actor,
        )
    return entry


# --- maturing and expiry (beat) ---------------------------------------------------------------


def points_mature_due(*, limit: int = 5000) -> int:
    """Make pending lots whose return window has passed available. Idempotent."""
    now = timezone.now()
    member_ids = list(
        PointLot.objects.filter(matured=False, available_at__lte=now)
        .order_by("member_id")
        .values_list("member_id", flat=True)
        .distinct()[:limit]
    )
    for member_id in member_ids:
        with transaction.atomic():
            _balance_lock(member_id)  # matures the member's due lots under the lock
    return len(member_ids)


def points_expire_member(*, member_id: int) -> int:
    """Expire the member's lots past their date, oldest first (I5). Returns points expired.

    Reserved points are protected: a lot expires only as far as the available balance
    covers it; the rest expires on the next run after the reservation resolves."""
    now = timezone.now()
    expired = 0
    with transaction.atomic():
        balance = _balance_lock(member_id)
        if balance is None:
            return 0
        lots = list(
            PointLot.objects.select_for_update()
            .filter(member_id=member_id, matured=True, remaining__gt=0, expires_at__lte=now)
            .order_by("expires_at", "id")
        )
        for lot in lots:
            take = min(lot.remaining, balance.available)
            if take <= 0:
                break
            entry = _entry(
                member_id=member_id,
                kind=Entry.EXPIRE,
                points=take,
                posted=-take,
                cause=Cause.SYSTEM,
                # remaining strictly falls, so lot + remaining-before is unique per expiry step
                key=f"expire:{lot.pk}:{lot.remaining}",
                purchase_id=lot.purchase_id,
            )
            PointLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - take)
            _balance_apply(balance, posted=-take)
            expired += take
            activity_record(
                member=_member_ref(member_id),
                kind=ActivityKind.POINTS_EXPIRED,
                data={"entry_id": entry.pk, "points": take, "lot_id": lot.pk},
            )
    return expired


def points_expire_due(*, limit: int = 10000) -> int:
    """Daily beat job: expire every due lot, member by member. Running it twice, or twice at
    once, equals running it once (each member's work happens under their balance lock)."""
    now = timezone.now()
    member_ids = list(
        PointLot.objects.filter(remaining__gt=0, expires_at__lte=now)
        .order_by("member_id")
        .values_list("member_id", flat=True)
        .distinct()[:limit]
    )
    return sum(points_expire_member(member_id=member_id) for member_id in member_ids)


# --- purchases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int
    unit_price_ore: int
    discount_ore: int = 0
    name: str = ""
    category: str = ""


@dataclass(frozen=True)
class PurchaseResult:
    purchase: Purchase
    lines: list[PurchaseLine]
    created: bool
    member_number: str | None


# SKU -> (product id, category id, cached until): products are read on every purchase and
# change rarely, so each process keeps them a minute (a category changed by an import in
# another process applies within that time; an import in this process clears it). Only
# committed rows enter it: rows are learned after the transaction that read or created them
# commits (``transaction.on_commit``), so a rolled-back purchase never leaves an id behind.
_products_cache: dict[str, tuple[int, int | None, float]] = {}
PRODUCTS_CACHE_SECONDS = 60.0


def products_cache_clear() -> None:
    _products_cache.clear()


def _products_cache_learn(rows: dict[str, tuple[int, int | None]], until: float) -> None:
    def learn() -> None:
        for sku, (pk, category_id) in rows.items():
            _products_cache[sku] = (pk, category_id, until)

    # Outside a transaction the rows are committed already and this runs at once.
    transaction.on_commit(learn)


def products_resolve(lines: Iterable[LineInput]) -> dict[str, tuple[int, int | None]]:
    """SKU -> (product id, category id); unknown SKUs (and categories) are created on first
    sight. No query when every SKU was seen in the last minute, one when they are known.

    Call it inside the purchase's transaction: the products and categories it creates are
    rolled back with a refused purchase. A concurrent purchase creating the same SKU waits
    on the unique index (``ON CONFLICT DO NOTHING``) and then reads the row the other
    committed; new rows are inserted in code and SKU order, so two purchases never wait on
    each other's rows."""
    lines = list(lines)
    skus = {line.sku for line in lines}
    clock = time.monotonic()
    found: dict[str, tuple[int, int | None]] = {}
    for sku in skus:
        cached = _products_cache.get(sku)
        if cached is not None and cached[2] > clock:
            found[sku] = (cached[0], cached[1])
    if len(found) == len(skus):
        return found
    learned: dict[str, tuple[int, int | None]] = {
        sku: (pk, category_id)
        for sku, pk, category_id in Product.objects.filter(sku__in=skus - set(found)).values_list(
            "sku", "pk", "category_id"
        )
    }
    found.update(learned)
    missing = {line.sku: line for line in lines if line.sku not in found}
    if missing:
        codes = {line.category for line in missing.values() if line.category}
        Category.objects.bulk_create(
            [Category(code=code, name=code) for code in sorted(codes)], ignore_conflicts=True
        )
        category_ids = dict(Category.objects.filter(code__in=codes).values_list("code", "pk"))
        Product.objects.bulk_create(
            [
                Product(
                    sku=sku,
                    name=missing[sku].name[:200],
                    category_id=category_ids.get(missing[sku].category),
                )
                for sku in sorted(missing)
            ],
            ignore_conflicts=True,  # a concurrent purchase may create the same SKU
        )
        created = {
            sku: (pk, category_id)
            for sku, pk, category_id in Product.objects.filter(sku__in=set(missing)).values_list(
                "sku", "pk", "category_id"
            )
        }
        found.update(created)
        learned.update(created)
    _products_cache_learn(learned, clock + PRODUCTS_CACHE_SECONDS)
    return found


def purchase_fingerprint(
    *,
    receipt_id: str,
    member_number: str | None,
    total_ore: int,
    purchased_at: datetime.datetime | None,
    lines: list[LineInput],
) -> str:
    return request_fingerprint(
        {
            "receipt": receipt_id,
            "member": member_number,
            "total": total_ore,
            "at": purchased_at.astimezone(datetime.UTC).isoformat() if purchased_at else None,
            "lines": [
                [line.sku, line.quantity, line.unit_price_ore, line.discount_ore] for line in lines
            ],
        }
    )


def member_tier_id(member: Member) -> int | None:
    # RelatedObjectDoesNotExist is an AttributeError: no tier yet
    member_tier = getattr(member, "member_tier", None)
    return member_tier.tier_id if member_tier is not None else None


def purchase_day(purchased_at: datetime.datetime | None) -> datetime.date:
    """The (Stockholm) day whose earning rules and multipliers a purchase earns by."""
    return timezone.localtime(purchased_at or timezone.now()).date()


def purchase_record(
    *,
    store: Store,
    receipt_id: str,
    member: Member | None,
    total_ore: int,
    purchased_at: datetime.datetime | None,
    lines: list[LineInput],
    bonus: earning.BonusPrefetch | None = None,
) -> PurchaseResult:
    """Record a purchase and earn its points, once per (store, receipt id).

    A replay with the same contents returns the first purchase (``created=False``); with
    other contents it raises ``DuplicateReceiptConflictError``. Points stay pending for the
    return window, counted from the time of purchase (``None``: now, and a replay without a
    time matches whatever time the first request was recorded at). ``bonus``: the member's
    personal multipliers, when the caller read them with the member
    (``selectors.member_for_purchase``); used if read for the purchase's day."""
    member_number = member.membership_number if member else None
    fingerprint = purchase_fingerprint(
        receipt_id=receipt_id,
        member_number=member_number,
        total_ore=total_ore,
        purchased_at=purchased_at,
        lines=lines,
    )
    now = timezone.now()
    purchased_at = purchased_at or now
    available_at = (
        max(purchased_at + datetime.timedelta(days=settings.REWARDS_PENDING_DAYS), now)
        if settings.REWARDS_PENDING_DAYS > 0
        else now
    )
    matured = settings.REWARDS_PENDING_DAYS <= 0 or available_at <= now
    rules = earning.rules_active()
    try:
        with transaction.atomic():
            # Unknown SKUs and categories are created in this transaction: a refused purchase
            # (a conflicting replay, a failing line) leaves no catalogue rows behind.
            products = products_resolve(lines)
            line_inputs = [
                earning.LineForEarning(
                    product_id=products[line.sku][0],
                    category_id=products[line.sku][1],
                    quantity=line.quantity,
                    unit_price_ore=line.unit_price_ore,
                    discount_ore=line.discount_ore,
                )
                for line in lines
            ]
            calc = earning.earning_calculate(
                lines=line_inputs,
                store_id=store.pk,
                tier_id=member_tier_id(member) if member else None,
                day=purchase_day(purchased_at),
                total_ore=total_ore,
                rules=rules,
                # The member's own multipliers (an activated offer, a chosen tier benefit).
                member_id=member.pk if member else None,
                bonus=bonus,
            )
            purchase, purchase_lines = _purchase_write(
                store=store,
                receipt_id=receipt_id,
                member=member,
                total_ore=total_ore,
                purchased_at=purchased_at,
                now=now,
                fingerprint=fingerprint,
                calc=calc,
                lines=lines,
                line_inputs=line_inputs,
                available_at=available_at,
                matured=matured,
            )
            if member is not None:
                # The purchase that crosses a tier threshold upgrades the member at once.
                from rewards.tiers import tier_upgrade_for_purchase

                tier_upgrade_for_purchase(
                    member_id=member.pk,
                    purchase_id=purchase.pk,
                    held=getattr(member, "member_tier", None),
                )
        return PurchaseResult(purchase, purchase_lines, True, member_number)
    except IntegrityError:
        existing = (
            Purchase.objects.select_related("member")
            .filter(store=store, receipt_id=receipt_id)
            .first()
        )
        if existing is None:
            raise
    if existing.request_hash != fingerprint:
        raise DuplicateReceiptConflictError()
    return PurchaseResult(
        existing,
        list(existing.lines.order_by("line_no")),
        False,
        existing.member.membership_number if existing.member else None,
    )


class _DuplicateReceipt(IntegrityError):
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


def _purchase_write(
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
    ``_DuplicateReceipt`` when the receipt exists. Call in a transaction.

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
        raise _DuplicateReceipt()
    purchase.pk, event_id = row
    if event_id is not None:
        activity_recorded(event_id=event_id, kind=ActivityKind.PURCHASED)
    for line in purchase_lines:
        line.purchase = purchase
    return purchase, purchase_lines


def _purchase_earn(
    *,
    purchase: Purchase,
    member_id: int,
    points: int,
    available_at: datetime.datetime,
    matured: bool,
) -> None:
    entry = _entry(
        member_id=member_id,
        kind=Entry.EARN,
        points=points,
        pending=0 if matured else points,
        posted=points if matured else 0,
        cause=Cause.PURCHASE,
        key=f"purchase:{purchase.pk}:earn",
        purchase_id=purchase.pk,
        explanation=purchase.explanation,
        store_id=purchase.store_id,
    )
    _lot_create(
        member_id=member_id,
        entry=entry,
        points=points,
        available_at=available_at,
        matured=matured,
        purchase_id=purchase.pk,
    )
    _balance_credit(member_id, pending=0 if matured else points, posted=points if matured else 0)


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
            purchase = (
                Purchase.objects.select_for_update()
                .filter(store=store, receipt_id=receipt_id)
                .first()
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
        balance = _balance_lock(purchase.member_id)
        lot = PointLot.objects.select_for_update().filter(purchase=purchase).first()
        assert balance is not None
        if lot is not None and not lot.matured:
            taken = min(due, lot.remaining)
            pending, posted = -taken, 0
            PointLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - taken)
        else:
            taken = min(due, balance.available)
            pending, posted = 0, -taken
            if taken:
                _lots_consume(purchase.member_id, taken, first=lot)
        if taken:
            _entry(
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
            _balance_apply(balance, pending=pending, posted=posted)
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
    if purchase.member_id is not None:
        activity_record(
            member=_member_ref(purchase.member_id),
            kind=ActivityKind.RETURNED,
            data={"purchase_id": purchase.pk, "return_id": ret.pk, "points": -taken},
            source="api",
            store=store,
        )
    return ret


def _claim_failure_keys(*, member: Member, store: Store, receipt_id: str) -> list[str]:
    receipt = hashlib.sha256(receipt_id.strip().lower().encode()).hexdigest()[:32]
    return [
        f"rewards:claim-failures:member:{member.pk}",
        f"rewards:claim-failures:receipt:{store.pk}:{receipt}",
    ]


def purchase_claim(*, member: Member, store: Store, receipt_id: str, total_ore: int) -> Purchase:
    """The member forgot their card: attach a member-less purchase (matched by store,
    receipt number and amount, within the claim period) and earn its points, exactly once.

    The amount is what proves the receipt is theirs, so it must not be guessable: after
    ``REWARDS_CLAIM_MAX_FAILURES`` wrong claims by this member, or for this receipt by anyone,
    within ``REWARDS_CLAIM_LOCK_MINUTES``, claims are refused (``PurchaseClaimLimitedError``)
    even with the right amount. Counted in the cache (Redis), atomically per key."""
    keys = _claim_failure_keys(member=member, store=store, receipt_id=receipt_id)
    limit = settings.REWARDS_CLAIM_MAX_FAILURES
    if any(count >= limit for count in cache.get_many(keys).values()):
        raise PurchaseClaimLimitedError()
    try:
        return _purchase_claim(
            member=member, store=store, receipt_id=receipt_id, total_ore=total_ore
        )
    except (PurchaseNotClaimableError, PurchaseAlreadyClaimedError):
        timeout = settings.REWARDS_CLAIM_LOCK_MINUTES * 60
        for key in keys:
            cache.add(key, 0, timeout)  # the window starts at the first failure
            try:
                cache.incr(key)
            except ValueError:  # expired between the two calls: a new window
                cache.set(key, 1, timeout)
        raise


def _purchase_claim(*, member: Member, store: Store, receipt_id: str, total_ore: int) -> Purchase:
    now = timezone.now()
    since = now - datetime.timedelta(days=settings.REWARDS_CLAIM_DAYS)
    with transaction.atomic():
        purchase = (
            Purchase.objects.select_for_update()
            .filter(
                store=store,
                receipt_id=receipt_id.strip(),
                total_ore=total_ore,
                purchased_at__gte=since,
            )
            .first()
        )
        if purchase is None:
            raise PurchaseNotClaimableError()
        if purchase.member_id is not None:
            raise PurchaseAlreadyClaimedError()
        points = sum(line.points - line.points_reversed for line in purchase.lines.all())
        available_at = purchase.purchased_at + datetime.timedelta(
            days=settings.REWARDS_PENDING_DAYS
        )
        matured = available_at <= now
        available_at = max(available_at, now)
        Purchase.objects.filter(pk=purchase.pk).update(
            member=member, claimed_at=now, points_available_at=available_at if points else None
        )
        purchase.member = member
        purchase.claimed_at = now
        if points > 0:
            _purchase_earn(
                purchase=purchase,
                member_id=member.pk,
                points=points,
                available_at=available_at,
                matured=matured,
            )
        activity_record(
            member=member,
            kind=ActivityKind.PURCHASE_CLAIMED,
            data={"purchase_id": purchase.pk, "points": points},
            source="web",
            actor=member.user,
            store=store,
        )
    return purchase


# --- event rules (non-spending behaviour) -----------------------------------------------------


def _period_start(period: str, now: datetime.datetime) -> datetime.datetime | None:
    local = timezone.localtime(now)
    day = local.date()
    if period == EventRule.Period.DAY:
        start = day
    elif period == EventRule.Period.WEEK:
        start = day - datetime.timedelta(days=day.weekday())
    elif period == EventRule.Period.MONTH:
        start = day.replace(day=1)
    else:
        return None
    return timezone.make_aware(datetime.datetime.combine(start, datetime.time.min))


def event_points_award(
    *,
    member: Member,
    event: str,
    idempotency_key: str,
    role: str = EventRule.Beneficiary.MEMBER,
    store: Store | None = None,
    actor: User | None = None,
) -> list[LedgerEntry]:
    """Award the active rules for ``event`` within each rule's cap per period.

    ``role`` is who this member is in a referral ("referrer" or "referred"). The member's
    balance row is locked before counting, so two check-ins at once cannot both pass the cap.
    """
    rules = list(EventRule.objects.filter(event=event, active=True).order_by("pk"))
    if event == EventRule.Event.REFERRAL:
        rules = [r for r in rules if r.beneficiary in (role, EventRule.Beneficiary.BOTH)]
    if not rules:
        return []
    entries = []
    now = timezone.now()
    with transaction.atomic():
        _balance_lock(member.pk, create=True)
        for rule in rules:
            key = f"{idempotency_key}:rule{rule.pk}"
            if LedgerEntry.objects.filter(idempotency_key=key).exists():
                continue
            used = LedgerEntry.objects.filter(member=member, event_rule=rule, kind=Entry.EARN)
            start = _period_start(rule.period, now)
            if start is not None:
                used = used.filter(created_at__gte=start)
            if used.count() >= rule.cap:
                continue
            entries.append(
                points_earn(
                    member=member,
                    points=rule.points,
                    cause=Cause.RULE,
                    idempotency_key=key,
                    explanation=[
                        {
                            "rule": None,
                            "event_rule": rule.pk,
                            "sv": rule.name_sv,
                            "en": rule.name_en,
                            "points": rule.points,
                        }
                    ],
                    store=store,
                    actor=actor,
                    event_rule=rule,
                )
            )
    return entries


def checkin_record(
    *, member: Member, store: Store, idempotency_key: str
) -> tuple[Any, list[LedgerEntry]]:
    """A member arrived at the door: record it on the timeline and award check-in rules."""
    from rewards.models import CheckIn

    with transaction.atomic():
        checkin, created = CheckIn.objects.get_or_create(
            idempotency_key=idempotency_key, defaults={"member": member, "store": store}
        )
        if not created:
            if checkin.member_id != member.pk or checkin.store_id != store.pk:
                raise IdempotencyConflictError()
            entries = list(
                LedgerEntry.objects.filter(idempotency_key__startswith=f"checkin:{checkin.pk}:")
            )
            return checkin, entries
        activity_record(
            member=member,
            kind=ActivityKind.CHECKED_IN,
            data={"checkin_id": checkin.pk},
            source="api",
            store=store,
        )
        entries = event_points_award(
            member=member,
            event=EventRule.Event.CHECK_IN,
            idempotency_key=f"checkin:{checkin.pk}",
            store=store,
        )
    return checkin, entries


# --- catalogue import -----------------------------------------------------------------------


def catalogue_import_csv(*, rows: Iterable[dict[str, str]]) -> tuple[int, int]:
    """Create or update products (and categories) from CSV rows with columns
    ``sku, name, category_code, category_name``. Returns (created, updated)."""
    products_cache_clear()
    # and again once the import is committed: a purchase in this process meanwhile may
    # have cached the rows as they were before
    transaction.on_commit(products_cache_clear)
    created = updated = 0
    cleaned = []
    for number, row in enumerate(rows, 2):
        sku = (row.get("sku") or "").strip()
        if not sku or len(sku) > 64:
            raise ValidationError(
                _("Line %(line)d: a SKU of 1-64 characters is required.") % {"line": number}
            )
        cleaned.append(
            (
                sku,
                (row.get("name") or "").strip()[:200],
                (row.get("category_code") or "").strip()[:60],
                (row.get("category_name") or "").strip()[:120],
            )
        )
    with transaction.atomic():
        for sku, name, code, category_name in cleaned:
            category = None
            if code:
                category, _created = Category.objects.update_or_create(
                    code=code, defaults={"name": category_name or code}
                )
            _product, was_created = Product.objects.update_or_create(
                sku=sku, defaults={"name": name, "category": category}
            )
            created += was_created
            updated += not was_created
    return created, updated
