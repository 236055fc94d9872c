"""Property-based test of the ledger: random sequences of earn, redeem, reserve, capture,
release, return, expire, replays and clock advances, checked after every step against a
small in-memory model and the invariants I1-I6 (docs/ledger.md)."""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings as django_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from rewards.errors import (
    InsufficientPointsError,
    ReservationExpiredError,
    ReservationResolvedError,
    ReturnExceedsPurchaseError,
)
from rewards.ledger.expiry import points_expire_due, points_mature_due
from rewards.ledger.lots import lot_expiry
from rewards.ledger.points import points_redeem
from rewards.ledger.reservations import (
    points_reserve,
    reservation_capture,
    reservation_release,
    reservations_timeout,
)
from rewards.ledger.snapshots import balance_snapshot
from rewards.models import PointBalance, PointLot
from rewards.purchases.returns import purchase_return
from tests import factories
from tests.factories import rewards as rf
from tests.rewards.invariants import assert_invariants

START = datetime.datetime(2025, 3, 20, 12, tzinfo=ZoneInfo("Europe/Stockholm"))
_seq = itertools.count()


@dataclass
class Lot:
    seq: int
    remaining: int
    available_at: datetime.datetime
    expires_at: datetime.datetime
    matured: bool


@dataclass
class Account:
    lots: list[Lot] = field(default_factory=list)
    reservations: dict[int, tuple[int, datetime.datetime]] = field(default_factory=dict)
    purchases: dict[str, tuple[Lot, int]] = field(default_factory=dict)  # receipt -> (lot, points)

    @property
    def pending(self) -> int:
        return sum(lot.remaining for lot in self.lots if not lot.matured)

    @property
    def posted(self) -> int:
        return sum(lot.remaining for lot in self.lots if lot.matured)

    @property
    def reserved(self) -> int:
        return sum(amount for amount, _ in self.reservations.values())

    @property
    def available(self) -> int:
        return self.posted - self.reserved

    def consume(self, points: int, first: Lot | None = None) -> None:
        lots = sorted(
            (lot for lot in self.lots if lot.matured and lot.remaining > 0),
            key=lambda lot: (lot is not first, lot.expires_at, lot.seq),
        )
        for lot in lots:
            take = min(points, lot.remaining)
            lot.remaining -= take
            points -= take
        assert points == 0

    def mature(self, now: datetime.datetime) -> None:
        for lot in self.lots:
            if not lot.matured and lot.available_at <= now:
                lot.matured = True


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.traveller = time_machine.travel(START, tick=False)
        self.clock = self.traveller.start()
        self.now = START
        self.store = factories.store(code="model-store")
        self.members = [factories.member_with_user() for _ in range(2)]
        self.accounts = {m.pk: Account() for m in self.members}
        self.last_redeem: tuple | None = None
        # Something to spend from the first step, in two lots that expire on different days.
        for index in range(len(self.members)):
            self.earn(index, 200, pending=False)
        self.advance_clock(days=30, minutes=0)
        for index in range(len(self.members)):
            self.earn(index, 100, pending=False)

    def teardown(self) -> None:
        self.traveller.stop()

    def _member(self, index: int):
        member = self.members[index % len(self.members)]
        return member, self.accounts[member.pk]

    @rule(who=st.integers(0, 1), points=st.integers(1, 300), pending=st.booleans())
    def earn(self, who: int, points: int, pending: bool) -> None:
        member, account = self._member(who)
        days = django_settings.REWARDS_PENDING_DAYS if pending else 0
        rf.earned(member, points, pending_days=days)
        available_at = self.now + datetime.timedelta(days=days)
        account.lots.append(
            Lot(next(_seq), points, available_at, lot_expiry(available_at), not pending)
        )

    @rule(who=st.integers(0, 1), price_sek=st.integers(1, 500))
    def purchase(self, who: int, price_sek: int) -> None:
        member, account = self._member(who)
        receipt = f"M{next(_seq)}"
        rf.purchase(
            store=self.store,
            member=member,
            receipt_id=receipt,
            lines=[rf.line("SKU", 1, price_sek * 100)],
        )
        available_at = self.now + datetime.timedelta(days=django_settings.REWARDS_PENDING_DAYS)
        lot = Lot(next(_seq), price_sek, available_at, lot_expiry(available_at), False)
        account.lots.append(lot)
        account.purchases[receipt] = (lot, price_sek)

    @rule(who=st.integers(0, 1), pick=st.integers(0, 50))
    def return_purchase(self, who: int, pick: int) -> None:
        _member, account = self._member(who)
        if not account.purchases:
            return
        receipt = sorted(account.purchases)[pick % len(account.purchases)]
        lot, due = account.purchases[receipt]
        if due == 0:
            with pytest.raises(ReturnExceedsPurchaseError):
                purchase_return(store=self.store, receipt_id=receipt, return_id=f"X{receipt}2")
            return
        ret, _ = purchase_return(store=self.store, receipt_id=receipt, return_id=f"X{receipt}")
        if not lot.matured:
            taken = min(due, lot.remaining)
            lot.remaining -= taken
        else:
            taken = min(due, account.available)
            account.consume(taken, first=lot)
        assert ret.points_reversed == taken
        account.purchases[receipt] = (lot, 0)

    @rule(who=st.integers(0, 1), points=st.integers(1, 250))
    def redeem(self, who: int, points: int) -> None:
        member, account = self._member(who)
        key = f"red-{next(_seq)}"
        if points <= account.available:
            result = points_redeem(member=member, points=points, idempotency_key=key)
            account.consume(points)
            self.last_redeem = (member, points, key, result)
        else:
            with pytest.raises(InsufficientPointsError):
                points_redeem(member=member, points=points, idempotency_key=key)

    @rule()
    def replay_last_redeem(self) -> None:
        if self.last_redeem is None:
            return
        member, points, key, first = self.last_redeem
        assert points_redeem(member=member, points=points, idempotency_key=key) == first

    @rule(
        who=st.integers(0, 1),
        points=st.integers(1, 300),
        timeout=st.sampled_from([60, 3600, 86400]),
    )
    def reserve(self, who: int, points: int, timeout: int) -> None:
        member, account = self._member(who)
        key = f"res-{next(_seq)}"
        if points <= account.available:
            result = points_reserve(
                member=member,
                points=points,
                idempotency_key=key,
                store=self.store,
                timeout_seconds=timeout,
            )
            account.reservations[result["reservation_id"]] = (
                points,
                self.now + datetime.timedelta(seconds=timeout),
            )
        else:
            with pytest.raises(InsufficientPointsError):
                points_reserve(member=member, points=points, idempotency_key=key, store=self.store)

    def _pick_reservation(self, who: int, pick: int):
        _member, account = self._member(who)
        if not account.reservations:
            return None
        rid = sorted(account.reservations)[pick % len(account.reservations)]
        return account, rid

    @rule(who=st.integers(0, 1), pick=st.integers(0, 20), share=st.floats(0.01, 1.0))
    def capture(self, who: int, pick: int, share: float) -> None:
        picked = self._pick_reservation(who, pick)
        if picked is None:
            return
        account, rid = picked
        amount, expires_at = account.reservations[rid]
        points = max(1, int(amount * share))
        key = f"cap-{next(_seq)}"
        if expires_at <= self.now:
            with pytest.raises(ReservationExpiredError):
                reservation_capture(
                    reservation_id=rid, points=points, idempotency_key=key, store=self.store
                )
            return
        reservation_capture(
            reservation_id=rid, points=points, idempotency_key=key, store=self.store
        )
        del account.reservations[rid]
        account.consume(points)
        with pytest.raises(ReservationResolvedError):
            reservation_release(
                reservation_id=rid, idempotency_key=f"{key}-again", store=self.store
            )

    @rule(who=st.integers(0, 1), pick=st.integers(0, 20))
    def release(self, who: int, pick: int) -> None:
        picked = self._pick_reservation(who, pick)
        if picked is None:
            return
        account, rid = picked
        reservation_release(
            reservation_id=rid, idempotency_key=f"rel-{next(_seq)}", store=self.store
        )
        del account.reservations[rid]

    @rule(days=st.sampled_from([0, 1, 14, 15, 200, 400, 800]), minutes=st.integers(0, 24 * 60))
    def advance_clock(self, days: int, minutes: int) -> None:
        delta = datetime.timedelta(days=days, minutes=minutes)
        self.clock.shift(delta)
        self.now += delta
        points_mature_due()
        reservations_timeout()
        for account in self.accounts.values():
            account.mature(self.now)
            for rid, (_amount, expires_at) in list(account.reservations.items()):
                if expires_at <= self.now:
                    del account.reservations[rid]

    @rule(twice=st.booleans())
    def expire(self, twice: bool) -> None:
        points_expire_due()
        if twice:
            assert points_expire_due() == 0
        for account in self.accounts.values():
            for lot in sorted(account.lots, key=lambda lot: (lot.expires_at, lot.seq)):
                if lot.matured and lot.remaining > 0 and lot.expires_at <= self.now:
                    take = min(lot.remaining, account.available)
                    if take <= 0:
                        break
                    lot.remaining -= take

    @invariant()
    def balances_match_model_and_invariants_hold(self) -> None:
        for member in self.members:
            account = self.accounts[member.pk]
            balance = PointBalance.objects.filter(member=member).first()
            got = balance_snapshot(balance)
            assert (got["pending"], got["posted"], got["reserved"]) == (
                account.pending,
                account.posted,
                account.reserved,
            )
            # lot by lot (FIFO): the database's lots, oldest first, hold what the model's do
            db_lots = list(
                PointLot.objects.filter(member=member)
                .order_by("id")
                .values_list("remaining", flat=True)
            )
            assert db_lots == [lot.remaining for lot in account.lots]
        assert_invariants([m.pk for m in self.members])


@pytest.mark.ledger_model
@pytest.mark.django_db
def test_ledger_state_machine(db):
    rf.base_rule()
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
