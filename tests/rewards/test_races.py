"""Concurrency with real threads on PostgreSQL: the ledger never loses, duplicates or
invents a point, whatever order the tills' requests arrive in."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from rewards.api.views import purchase_body
from rewards.errors import InsufficientPointsError, ReservationResolvedError
from rewards.ledger.expiry import points_expire_due
from rewards.ledger.points import points_earn, points_redeem
from rewards.ledger.reservations import points_reserve, reservation_capture, reservation_release
from rewards.models import LedgerEntry, PointBalance, Purchase, Reservation
from rewards.purchases.recording import purchase_record
from tests import factories
from tests.factories import rewards as rf
from tests.rewards.invariants import assert_invariants

pytestmark = [pytest.mark.race, pytest.mark.django_db(transaction=True)]
THREADS = 16


def _run_all(jobs: list[Callable[[], Any]], threads: int = THREADS) -> list[Any]:
    """Run ``jobs`` on ``threads`` real threads (each with its own database connection,
    closed at its end), released together by a barrier. Results keep the jobs' order."""
    threads = min(threads, len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def worker(offset: int) -> None:
        try:
            barrier.wait(timeout=10)
            for index in range(offset, len(jobs), threads):
                results[index] = jobs[index]()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def test_points_redeem_1000_concurrent_over_50_members():
    # given 50 members with 1,000 points each
    members = [factories.member_with_user() for _ in range(50)]
    for member in members:
        rf.earned(member, 1000)
    rng = random.Random(3)
    requests = [(rng.choice(members), rng.randint(1, 120), f"race-{n}") for n in range(1000)]

    def redeem(member, points, key) -> tuple[int, int, int | None]:
        def job() -> tuple[int, int, int | None]:
            try:
                result = points_redeem(member=member, points=points, idempotency_key=key)
            except InsufficientPointsError:
                return member.pk, points, None
            return member.pk, points, result["balance"]["available"]

        return job

    # when 1,000 redemptions race on 16 threads
    outcomes = _run_all([redeem(*r) for r in requests])

    # then every success was affordable, none went negative, and the books add up
    spent: dict[int, int] = {}
    for member_id, points, available_after in outcomes:
        if available_after is not None:
            assert available_after >= 0
            spent[member_id] = spent.get(member_id, 0) + points
    assert (
        sum(1 for o in outcomes if o[2] is not None)
        == LedgerEntry.objects.filter(kind="redeem").count()
    )
    for member in members:
        balance = PointBalance.objects.get(member=member)
        assert balance.posted == 1000 - spent.get(member.pk, 0) >= 0
    # some members ran out: the refusals were real, not a lock timeout
    assert any(o[2] is None for o in outcomes)
    assert_invariants([m.pk for m in members])


def test_purchase_record_500_receipts_10_times_each():
    rf.base_rule()
    store = factories.store(code="race-store")
    members = [factories.member_with_user() for _ in range(10)]
    receipts = [
        (f"RC-{n}", members[n % 10], [rf.line(f"SKU-{n % 7}", 1 + n % 3, 1000 + n)])
        for n in range(500)
    ]
    jobs = []
    for receipt_id, member, lines in receipts:
        for _ in range(10):
            jobs.append(
                lambda r=receipt_id, m=member, ls=lines: (
                    purchase_body(
                        purchase_record(
                            store=store,
                            receipt_id=r,
                            member=m,
                            total_ore=12345,
                            purchased_at=None,
                            lines=ls,
                        )
                    )
                    | {"_receipt": r}
                )
            )
    random.Random(5).shuffle(jobs)

    bodies = _run_all(jobs)

    assert Purchase.objects.count() == 500
    assert LedgerEntry.objects.filter(kind="earn").count() == 500
    by_receipt: dict[str, list[dict]] = {}
    for body in bodies:
        by_receipt.setdefault(body["_receipt"], []).append(body)
    assert len(by_receipt) == 500
    for replies in by_receipt.values():
        assert len(replies) == 10
        assert all(reply == replies[0] for reply in replies)
    assert_invariants([m.pk for m in members])


def test_reservation_resolves_once_under_concurrent_capture_release_and_timeout():
    member = factories.member_with_user()
    rf.earned(member, 1000)
    store = factories.store(code="race-res")
    reservation_ids = [
        points_reserve(
            member=member, points=50, idempotency_key=f"r{n}", store=store, timeout_seconds=10
        )["reservation_id"]
        for n in range(10)
    ]
    jobs: list[Callable[[], Any]] = []
    for rid in reservation_ids:
        for n in range(4):
            if n % 2:
                jobs.append(
                    lambda rid=rid, n=n: reservation_capture(
                        reservation_id=rid, points=40, idempotency_key=f"c{rid}-{n}", store=store
                    )
                )
            else:
                jobs.append(
                    lambda rid=rid, n=n: reservation_release(
                        reservation_id=rid, idempotency_key=f"x{rid}-{n}", store=store
                    )
                )

    def attempt(job: Callable[[], Any]) -> Callable[[], str]:
        def run() -> str:
            try:
                return job()["status"]
            except ReservationResolvedError:
                return "refused"

        return run

    results = _run_all([attempt(job) for job in jobs])
    assert results.count("refused") == len(reservation_ids) * 3
    assert Reservation.objects.filter(status="active").count() == 0
    assert_invariants([member.pk])


def test_points_expire_due_twice_concurrently_equals_once():
    import datetime
    from zoneinfo import ZoneInfo

    import time_machine

    members = [factories.member_with_user() for _ in range(20)]
    with time_machine.travel(
        datetime.datetime(2024, 3, 30, 12, tzinfo=ZoneInfo("Europe/Stockholm")), tick=False
    ):
        for member in members:
            rf.earned(member, 100)
            rf.earned(member, 50)
    with time_machine.travel(
        datetime.datetime(2026, 3, 31, 12, tzinfo=ZoneInfo("Europe/Stockholm")), tick=False
    ):
        totals = _run_all([points_expire_due, points_expire_due], threads=2)
    assert sum(totals) == 20 * 150
    assert LedgerEntry.objects.filter(kind="expire").count() == 40
    assert PointBalance.objects.filter(posted__gt=0).count() == 0
    assert_invariants([m.pk for m in members])


def test_points_earn_same_key_concurrently_credits_once():
    member = factories.member_with_user()
    from rewards.models import LedgerEntry as Entry

    def earn() -> int:
        return points_earn(
            member=member, points=70, cause="campaign", idempotency_key="campaign-7:member"
        ).pk

    entry_ids = _run_all([earn] * 12, threads=12)
    assert len(set(entry_ids)) == 1
    assert Entry.objects.filter(member=member).count() == 1
    assert PointBalance.objects.get(member=member).posted == 70
    assert_invariants([member.pk])
