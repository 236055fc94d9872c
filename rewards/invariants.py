"""The ledger invariants (docs/ledger.md, "Invariants and how they are tested"), checked
straight against the database: what the suite asserts after every step and race
(tests/rewards/invariants.py) and what ``make bench-soak`` checks after ten minutes of load.

Read-only; a few queries per member, so give it the members that matter, not millions."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Q, Sum

from members.models import MemberMerge
from rewards.models import LedgerEntry, PointBalance, PointLot, Purchase, Reservation


def ledger_violations(*, member_ids: Iterable[int]) -> list[str]:
    """Every broken invariant of these members, one line each (empty when the books hold):
    I1 (cached balances = sums of the entries), I2 (nothing negative, available >= 0),
    I4 (a reservation has one reserve entry and, once resolved, one resolution; active
    reservations add up to ``reserved``; a merge's transfers not counted), I6 (earned +
    imported - reversed - redeemed - expired + adjustments + transfers in - transfers out =
    posted + pending, and each merge's transfers net to zero over the pair), and the lots
    holding exactly the balance."""
    problems: list[str] = []
    for member_id in member_ids:
        problems += _member_violations(member_id)
    return problems


def _member_violations(member_id: int) -> list[str]:
    problems: list[str] = []
    balance = PointBalance.objects.filter(member_id=member_id).first()
    pending, posted, reserved = (
        (balance.pending, balance.posted, balance.reserved) if balance else (0, 0, 0)
    )
    entries = LedgerEntry.objects.filter(member_id=member_id)
    sums = entries.aggregate(
        pending=Sum("delta_pending", default=0),
        posted=Sum("delta_posted", default=0),
        reserved=Sum("delta_reserved", default=0),
    )
    cached = (pending, posted, reserved)
    if cached != (sums["pending"], sums["posted"], sums["reserved"]):
        problems.append(f"I1 member {member_id}: balance {cached} != entries {sums}")
    if min(pending, posted, reserved, posted - reserved) < 0:
        problems.append(f"I2 member {member_id}: negative (pending, posted, reserved) {cached}")
    by_kind = {
        row["kind"]: row
        for row in entries.values("kind").annotate(
            points=Sum("points"), posted=Sum("delta_posted"), pending=Sum("delta_pending")
        )
    }

    def total(kind: str, field: str = "points") -> int:
        return by_kind.get(kind, {}).get(field) or 0

    books = (
        total("earn")
        + total("import")
        - total("reverse")
        + total("redeem", "posted")
        - total("expire")
        + total("adjust", "posted")
        + total("transfer", "posted")
        + total("transfer", "pending")
    )
    if books != posted + pending:
        problems.append(f"I6 member {member_id}: entries say {books}, balance {posted + pending}")
    lots = PointLot.objects.filter(member_id=member_id).aggregate(
        posted=Sum("remaining", filter=Q(matured=True), default=0),
        pending=Sum("remaining", filter=Q(matured=False), default=0),
    )
    if (lots["posted"], lots["pending"]) != (posted, pending):
        problems.append(f"lots member {member_id}: lots {lots} != (posted, pending) {cached}")
    # A merge's transfer entries move a reservation between members; they are not counted.
    for reservation in Reservation.objects.filter(member_id=member_id).annotate(
        n=Count("entries", filter=~Q(entries__kind=LedgerEntry.Kind.TRANSFER))
    ):
        expected = 1 if reservation.status == Reservation.Status.ACTIVE else 2
        if reservation.n != expected:
            problems.append(
                f"I4 reservation {reservation.pk} ({reservation.status}): "
                f"{reservation.n} entries, expected {expected}"
            )
    active = Reservation.objects.filter(
        member_id=member_id, status=Reservation.Status.ACTIVE
    ).aggregate(s=Sum("amount", default=0))["s"]
    if active != reserved:
        problems.append(f"I4 member {member_id}: active reservations {active} != {reserved}")
    return problems + _transfer_violations(member_id)


def _transfer_violations(member_id: int) -> list[str]:
    """I6 across a merge: each merge's transfer entries (keys ``merge:<merged id>:...``) net
    to zero over the pair, pending, posted and reserved each, and every lot moved has both
    its out and its in entry."""
    problems: list[str] = []
    merges = MemberMerge.objects.filter(Q(survivor_id=member_id) | Q(merged_id=member_id))
    for merged_id, survivor_id in merges.values_list("merged_id", "survivor_id"):
        transfers = LedgerEntry.objects.filter(
            kind=LedgerEntry.Kind.TRANSFER, idempotency_key__startswith=f"merge:{merged_id}:"
        )
        sums = transfers.aggregate(
            pending=Sum("delta_pending", default=0),
            posted=Sum("delta_posted", default=0),
            reserved=Sum("delta_reserved", default=0),
            outside=Count("pk", filter=~Q(member_id__in=[merged_id, survivor_id])),
            outs=Count("pk", filter=Q(idempotency_key__endswith=":out")),
            ins=Count("pk", filter=Q(idempotency_key__endswith=":in")),
        )
        if (sums["pending"], sums["posted"], sums["reserved"], sums["outside"]) != (0, 0, 0, 0):
            problems.append(f"I6 merge {merged_id} -> {survivor_id}: transfers do not net {sums}")
        if sums["outs"] != sums["ins"]:
            problems.append(f"I6 merge {merged_id} -> {survivor_id}: unpaired transfers {sums}")
    return problems


def purchases_credited_twice() -> list[str]:
    """I3 over the whole database: no member's purchase has more than one earn entry (a
    retried or duplicate receipt never credits twice)."""
    rows = (
        Purchase.objects.filter(member__isnull=False)
        .annotate(earns=Count("entries", filter=Q(entries__kind=LedgerEntry.Kind.EARN)))
        .filter(earns__gt=1)
        .values_list("pk", "earns")[:20]
    )
    return [f"I3 purchase {pk}: {earns} earn entries" for pk, earns in rows]
