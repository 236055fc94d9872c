"""Reservations: points held for a till or web shop, then captured or released."""

from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from members.activity import Kind as ActivityKind
from members.activity import activity_record
from members.models import Member, Store, User
from rewards.errors import (
    CaptureExceedsReservationError,
    InsufficientPointsError,
    MemberMergedError,
    ReservationExpiredError,
    ReservationResolvedError,
    UnknownReservationError,
)
from rewards.ledger.balances import balance_apply, balance_lock
from rewards.ledger.entries import Cause, Entry, entry_write, member_ref
from rewards.ledger.idempotency import idempotent_run
from rewards.ledger.lock_objects import reservation_lock
from rewards.ledger.lots import lots_consume
from rewards.ledger.points import points_check
from rewards.ledger.snapshots import balance_snapshot
from rewards.models import (
    Reservation,
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
    points_check(points)
    timeout = timeout_seconds or settings.REWARDS_RESERVATION_SECONDS

    def work() -> dict[str, Any]:
        balance = balance_lock(member.pk)
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
        entry_write(
            member_id=member.pk,
            kind=Entry.RESERVE,
            points=points,
            reserved=points,
            cause=Cause.RESERVATION,
            key=f"reserve:{reservation.pk}",
            reservation_id=reservation.pk,
            store_id=store.pk if store else None,
        )
        balance_apply(balance, reserved=points)
        return {
            "reservation_id": reservation.pk,
            "points": points,
            "status": reservation.status,
            "expires_at": reservation.expires_at.isoformat(),
            "balance": balance_snapshot(balance),
        }

    return idempotent_run(
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
    try:
        balance = balance_lock(member_id)
    except MemberMergedError:
        # The member was merged meanwhile: the merge moved the reservation, with its
        # reserved points, to the survivor (rewards.merging); resolve it there.
        member_id = found.values_list("member_id", flat=True).get()
        balance = balance_lock(member_id)
    reservation = reservation_lock(reservation_id=reservation_id)
    assert reservation.member_id == member_id
    if reservation.status != Reservation.Status.ACTIVE:
        raise ReservationResolvedError(status=reservation.status)
    now = timezone.now()
    if not allow_expired and reservation.expires_at <= now:
        raise ReservationExpiredError()
    if captured > reservation.amount:
        raise CaptureExceedsReservationError(reserved=reservation.amount)
    assert balance is not None
    kind = Entry.REDEEM if status == Reservation.Status.CAPTURED else Entry.RELEASE
    entry = entry_write(
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
        lots_consume(member_id, captured)
    balance_apply(balance, posted=-captured, reserved=-reservation.amount)
    # The status filter is the last guard: only one resolution can move it off "active".
    updated = Reservation.objects.filter(
        pk=reservation.pk, status=Reservation.Status.ACTIVE
    ).update(status=status, captured=captured, resolved_at=now)
    assert updated == 1
    if captured:
        activity_record(
            member=member_ref(member_id),
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
    points_check(points)
    return idempotent_run(
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
    return idempotent_run(
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
