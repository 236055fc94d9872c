"""The ledger's row locks, in one order (docs/ledger.md): the member row (``FOR KEY SHARE``:
only a merge, which locks it ``FOR UPDATE``, waits or is waited for), then the purchase row,
then the member's balance row, then reservations and lots, each set in primary-key order
(as saleor's ``lock_objects.py``), so two writers never wait on each other's rows. Two
tills may spend the same points: the balance row lock serialises them, and the balance is
re-checked under it. Each function returns the queryset to lock; the caller runs it in
its transaction."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from django.db import connection
from django.db.models import QuerySet

from members.models import Member
from members.sql_names import sql_names
from rewards.errors import MemberMergedError
from rewards.models import PointBalance, PointLot, Purchase, Reservation

_MEMBER_KEY_SHARE = "SELECT [Member.merged_into] FROM [Member] WHERE [Member.pk] = %s FOR KEY SHARE"


_MEMBERS_KEY_SHARE = (
    "SELECT [Member.pk], [Member.merged_into] FROM [Member] WHERE [Member.pk] = ANY(%s) "
    "ORDER BY [Member.pk] FOR KEY SHARE"
)


@functools.cache
def _member_key_share_sql() -> str:
    return sql_names(_MEMBER_KEY_SHARE, Member)


@functools.cache
def _members_key_share_sql() -> str:
    return sql_names(_MEMBERS_KEY_SHARE, Member)


def purchases_select_for_update() -> QuerySet[Purchase]:
    """Purchases to lock, in primary-key order (the first lock of a return or a claim)."""
    return Purchase.objects.select_for_update().order_by("pk")


def member_lock_live(*, member_id: int) -> None:
    """Hold the member row against a merge until the transaction ends (``FOR KEY SHARE``, the
    lock the entries' foreign keys take anyway, taken first so a merge and a points write
    never wait on each other's rows), and refuse a member merged meanwhile: raises
    ``MemberMergedError`` (its ``survivor_id``; the survivor's number in its details).
    Every points write calls it before the balance row (``balance_lock``, ``points_earn``,
    the till's statement in its own SQL)."""
    with connection.cursor() as cursor:
        cursor.execute(_member_key_share_sql(), [member_id])
        row = cursor.fetchone()
    if row is not None and row[0] is not None:
        number = Member.objects.filter(pk=row[0]).values_list("membership_number", flat=True)
        raise MemberMergedError(survivor_id=row[0], membership_number=number.first() or "")


def member_lock_resolved(*, member_id: int) -> int:
    """``member_lock_live`` for points given to a member: a member merged meanwhile hands
    them to the survivor (whose row is then the one locked). Returns the member's id."""
    for _hop in range(10):  # a merge never writes a cycle; chains are short
        try:
            member_lock_live(member_id=member_id)
            return member_id
        except MemberMergedError as merged:
            member_id = merged.survivor_id
    raise MemberMergedError(survivor_id=member_id)  # pragma: no cover


def members_lock_resolved(*, member_ids: Iterable[int]) -> dict[int, int]:
    """``member_lock_resolved`` for a batch (an import): locks the members' rows in id order
    in one statement, then their survivors' for those merged meanwhile. Returns each given
    id's live member id."""
    resolved = {member_id: member_id for member_id in member_ids}
    pending = sorted(set(resolved))
    for _hop in range(10):  # a merge never writes a cycle; chains are short
        if not pending:
            return resolved
        with connection.cursor() as cursor:
            cursor.execute(_members_key_share_sql(), [pending])
            moved = {pk: survivor for pk, survivor in cursor.fetchall() if survivor is not None}
        for original, current in resolved.items():
            if current in moved:
                resolved[original] = moved[current]
        pending = sorted(set(moved.values()))
    raise MemberMergedError(survivor_id=pending[0])  # pragma: no cover


def balance_select_for_update(*, member_id: int) -> QuerySet[PointBalance]:
    """The member's balance row to lock: the lock every spending path takes first."""
    return PointBalance.objects.select_for_update().filter(member_id=member_id)


def lots_select_for_update(*, member_id: int) -> QuerySet[PointLot]:
    """The member's lots to lock, in primary-key order. Call with their balance row locked
    (``balance_lock``); callers that consume lots oldest expiry first sort what they get
    (``lots_by_expiry``), so every path locks lots in the same order."""
    return PointLot.objects.select_for_update().filter(member_id=member_id).order_by("pk")


def lots_by_expiry(lots: list[PointLot]) -> list[PointLot]:
    """Oldest expiry first (FIFO), then oldest lot."""
    return sorted(lots, key=lambda lot: (lot.expires_at, lot.pk))


def reservation_lock(*, reservation_id: int) -> Reservation:
    """Lock one reservation (after the member's balance row)."""
    return Reservation.objects.select_for_update().get(pk=reservation_id)
