"""The ledger invariants (docs/ledger.md), checked straight against the database."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Q, Sum

from rewards.models import LedgerEntry, PointBalance, PointLot, Reservation


def assert_invariants(member_ids: Iterable[int]) -> None:
    for member_id in member_ids:
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
        # I1: the cached balances are what the entries add up to.
        assert (pending, posted, reserved) == (sums["pending"], sums["posted"], sums["reserved"]), (
            member_id,
            (pending, posted, reserved),
            sums,
        )
        # I2: nothing negative; available = posted - reserved >= 0.
        assert pending >= 0
        assert posted >= 0
        assert reserved >= 0
        assert posted - reserved >= 0
        # I6: earned - reversed - redeemed - expired + adjustments = posted + pending.
        by_kind = {
            row["kind"]: row
            for row in entries.values("kind").annotate(
                points=Sum("points"), posted=Sum("delta_posted")
            )
        }

        def total(kind: str, field: str = "points", by_kind: dict = by_kind) -> int:
            return by_kind.get(kind, {}).get(field) or 0

        earned = total("earn")
        reversed_ = total("reverse")
        redeemed = -total("redeem", "posted")
        expired = total("expire")
        adjustments = total("adjust", "posted")
        assert earned - reversed_ - redeemed - expired + adjustments == posted + pending, member_id
        # The lots hold exactly the member's points: available ones posted, the rest pending.
        lots = PointLot.objects.filter(member_id=member_id).aggregate(
            posted=Sum("remaining", filter=Q(matured=True), default=0),
            pending=Sum("remaining", filter=Q(matured=False), default=0),
        )
        assert (lots["posted"], lots["pending"]) == (posted, pending), (member_id, lots)
        # I4: every reservation has one reserve entry and, once resolved, one resolution.
        for reservation in Reservation.objects.filter(member_id=member_id).annotate(
            n=Count("entries")
        ):
            expected = 1 if reservation.status == Reservation.Status.ACTIVE else 2
            assert reservation.n == expected, (reservation.pk, reservation.status, reservation.n)
        active = Reservation.objects.filter(
            member_id=member_id, status=Reservation.Status.ACTIVE
        ).aggregate(s=Sum("amount", default=0))["s"]
        assert active == reserved
