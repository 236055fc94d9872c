"""Opening balances from the chain's old club: points that enter the ledger as entries of
their own kind, ``import`` (docs/ledger.md, docs/import.md "Opening points balances").

Each opening lot is one entry (kind and cause ``import``, available at once: ``posted``
+n) and one lot that keeps the points' original earn date: the lot is available from
``earned_at`` and expires by the club's rules counted from that date (``lot_expiry``), as
if the points had been earned here. Points that have expired by then are refused, never
written. The balance row gets the points in the same transaction, so I1-I6 hold.

Idempotent by the key ``import:<member id>:<earned_at in UTC>``: one opening lot per member
and earn time. The key holds the member's primary key, not the old system's external id,
so nothing in the immutable ledger names the person once the member is erased. Imported
points are not "earned" here: tiers (points earned in the window) and the segment rule
"points earned" leave them out; the balance counts them.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from members.models import User
from rewards.ledger.balances import balances_credit
from rewards.ledger.entries import Cause, Entry
from rewards.ledger.lock_objects import members_lock_resolved
from rewards.ledger.lots import lot_expiry
from rewards.models import LedgerEntry, PointLot

KEY_PREFIX = "import:"
# The most points one opening lot may hold (as a staff adjustment).
POINTS_MAX = 10_000_000
NOTE_MAX = 200
# Rows per INSERT: 1,000 entries of 15 values stay far below PostgreSQL's 65,535 parameters.
INSERT_BATCH = 1000


@dataclass(frozen=True)
class OpeningLot:
    """Points the member had in the old club, earned at ``earned_at`` (aware)."""

    member_id: int
    points: int
    earned_at: datetime.datetime
    note: str = ""

    @property
    def key(self) -> str:
        return opening_key(member_id=self.member_id, earned_at=self.earned_at)


def opening_key(*, member_id: int, earned_at: datetime.datetime) -> str:
    """The entry's idempotency key: one opening lot per member and earn time."""
    utc = earned_at.astimezone(datetime.UTC)
    return f"{KEY_PREFIX}{member_id}:{utc:%Y-%m-%dT%H:%M:%SZ}"


def points_imported(keys: Iterable[str]) -> dict[str, int]:
    """Which of these keys are in the ledger already, with the points they brought."""
    keys = list(keys)
    if not keys:
        return {}
    return dict(
        LedgerEntry.objects.filter(idempotency_key__in=keys).values_list(
            "idempotency_key", "points"
        )
    )


def points_import(
    *,
    lots: Sequence[OpeningLot],
    actor: User | None = None,
    now: datetime.datetime | None = None,
) -> dict[str, int]:
    """Credit opening lots: per lot an ``import`` entry, a lot with the original earn date's
    expiry, and the balance, in one transaction (a few statements for the whole batch).

    Returns the keys that were in the ledger already, with the points they brought; every
    other lot was written. A lot whose key is there already writes nothing, whatever its
    points: the caller compares. A concurrent import of the same lots is safe: the batch is
    then written again lot by lot, and what the other one wrote counts as there already.
    Raises ``ValidationError`` for a lot that cannot be imported (points not a whole number
    above zero, an earn time in the future or already expired, a note too long, the same
    key twice)."""
    now = now or timezone.now()
    keys = [lot.key for lot in lots]
    expiries = _expiries(lots)
    _lots_check(lots, keys, expiries, now=now)
    existing = points_imported(keys)
    new = [
        (lot, expires_at)
        for lot, key, expires_at in zip(lots, keys, expiries, strict=True)
        if key not in existing
    ]
    if not new:
        return existing
    try:
        with transaction.atomic():
            _lots_write(new, actor=actor, now=now)
        return existing
    except IntegrityError:
        pass  # another import wrote some of these keys meanwhile
    for lot, expires_at in new:
        try:
            with transaction.atomic():
                _lots_write([(lot, expires_at)], actor=actor, now=now)
        except IntegrityError:
            found = points_imported([lot.key])
            if not found:
                raise
            existing.update(found)
    return existing


def _expiries(lots: Sequence[OpeningLot]) -> list[datetime.datetime]:
    """Each lot's expiry (``lot_expiry``), worked out once per Stockholm day: it depends on
    the earn date alone."""
    by_day: dict[datetime.date, datetime.datetime] = {}
    expiries = []
    for lot in lots:
        day = timezone.localtime(lot.earned_at).date()
        expires_at = by_day.get(day)
        if expires_at is None:
            expires_at = by_day[day] = lot_expiry(lot.earned_at)
        expiries.append(expires_at)
    return expiries


def _lots_check(
    lots: Sequence[OpeningLot],
    keys: list[str],
    expiries: list[datetime.datetime],
    *,
    now: datetime.datetime,
) -> None:
    for lot, expires_at in zip(lots, expiries, strict=True):
        points = lot.points
        if not isinstance(points, int) or isinstance(points, bool) or not 0 < points <= POINTS_MAX:
            raise ValidationError({"points": _("Points must be a positive whole number.")})
        if timezone.is_naive(lot.earned_at) or lot.earned_at > now:
            raise ValidationError({"earned_at": _("The earn date is in the future.")})
        if expires_at <= now:
            raise ValidationError({"earned_at": _("Expired points are not imported.")})
        if len(lot.note) > NOTE_MAX:
            raise ValidationError(
                {"note": _("The note is too long: at most %(max)d characters.") % {"max": NOTE_MAX}}
            )
    if len(set(keys)) != len(keys):
        raise ValidationError(
            {"earned_at": _("One opening lot per member and earn time: add their points up.")}
        )


def _explanations(lots: Sequence[OpeningLot]) -> list[list[dict[str, object]]]:
    """What the member reads on the entry, in both languages: where and when the points were
    earned ("+500 p: Intjänat i den gamla klubben 1 mars 2024")."""
    days = [timezone.localtime(lot.earned_at).date() for lot in lots]
    texts: dict[str, dict[datetime.date, str]] = {}
    for language in ("sv", "en"):
        with translation.override(language):
            texts[language] = {
                day: _("Earned in the old club on %(date)s")
                % {"date": formats.date_format(day, "j F Y")}
                for day in set(days)
            }
    return [
        [{"rule": None, "sv": texts["sv"][day], "en": texts["en"][day], "points": lot.points}]
        for lot, day in zip(lots, days, strict=True)
    ]


def _lots_write(
    new: Sequence[tuple[OpeningLot, datetime.datetime]],
    *,
    actor: User | None,
    now: datetime.datetime,
) -> None:
    """The entries, their lots (with their expiry) and the balances: three INSERTs per
    thousand lots. Call inside a transaction. The members' rows are locked first, as by
    every points write; a member merged since the file was read has their points credited
    to the survivor, keyed as a new run of the file would key them."""
    survivors = members_lock_resolved(member_ids={lot.member_id for lot, _expires_at in new})
    new = [
        (
            lot
            if survivors[lot.member_id] == lot.member_id
            else dataclasses.replace(lot, member_id=survivors[lot.member_id]),
            expires_at,
        )
        for lot, expires_at in new
    ]
    lots = [lot for lot, _expires_at in new]
    acted_by = actor if actor is not None and actor.is_authenticated else None
    entries = LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                member_id=lot.member_id,
                kind=Entry.IMPORT,
                points=lot.points,
                delta_posted=lot.points,
                cause=Cause.IMPORT,
                explanation=explanation,
                reason=lot.note,
                actor=acted_by,
                idempotency_key=lot.key,
                created_at=now,
            )
            for lot, explanation in zip(lots, _explanations(lots), strict=True)
        ],
        batch_size=INSERT_BATCH,
    )
    PointLot.objects.bulk_create(
        [
            PointLot(
                member_id=lot.member_id,
                entry=entry,
                amount=lot.points,
                remaining=lot.points,
                available_at=lot.earned_at,
                matured=True,
                expires_at=expires_at,
            )
            for (lot, expires_at), entry in zip(new, entries, strict=True)
        ],
        batch_size=INSERT_BATCH,
    )
    credits: dict[int, int] = defaultdict(int)
    for lot in lots:
        credits[lot.member_id] += lot.points
    balances_credit(posted=credits)
