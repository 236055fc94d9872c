"""A merge while the tills keep working (issue 15): purchases, point redemptions, captures
of held baskets, vouchers used and returns of earlier purchases hit both members on real
threads while ``member_merge`` runs, on real PostgreSQL. Nothing is lost or duplicated:
each purchase exists once and is the survivor's, each redemption succeeded once or was
refused cleanly, each basket was captured once, each voucher used once, each return
happened once, the survivor holds everything earned less everything spent and returned,
and the ledger invariants hold for both."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from members.activity import Kind
from members.merging import member_merge
from members.models import ActivityEvent, Member, MemberMerge
from rewards.errors import InsufficientPointsError, MemberMergedError
from rewards.invariants import purchases_credited_twice
from rewards.ledger.points import points_redeem
from rewards.ledger.reservations import points_reserve, reservation_capture
from rewards.loyalty.catalogue import voucher_redeem
from rewards.models import LedgerEntry, PointBalance, Purchase, Reservation, Return, Voucher
from rewards.purchases.recording import purchase_record
from rewards.purchases.returns import purchase_return
from tests import factories
from tests.factories import rewards as rf
from tests.rewards.invariants import assert_invariants

THREADS = 8
PER_MEMBER_PURCHASES = 120
PER_MEMBER_REDEMPTIONS = 120
RESERVATIONS = 20
RETURNS = 20
START = 5_000


def _run_with_merge(
    jobs: list[Callable[[], Any]], merge: Callable[[], Any], *, merge_after: int
) -> tuple[list[Any], Any]:
    """Run ``jobs`` on ``THREADS`` real threads released together by a barrier, each with
    its own connection; a further thread runs ``merge`` once ``merge_after`` jobs are done,
    while the rest are still running. Results keep the jobs' order."""
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []
    done = [0]
    done_lock = threading.Lock()
    merged: list[Any] = []
    barrier = threading.Barrier(THREADS + 1)

    def worker(offset: int) -> None:
        try:
            barrier.wait(timeout=10)
            for index in range(offset, len(jobs), THREADS):
                results[index] = jobs[index]()
                with done_lock:
                    done[0] += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def merger() -> None:
        try:
            barrier.wait(timeout=10)
            while True:
                with done_lock:
                    if done[0] >= merge_after:
                        break
                time.sleep(0.001)
            merged.append(merge())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    pool.append(threading.Thread(target=merger))
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=180)
    if errors:
        raise errors[0]
    assert len(merged) == 1
    return results, merged[0]


def _purchase(store: Any, member: Member, receipt_id: str, sek: int) -> Callable[[], Any]:
    def job() -> tuple[str, str, int, int]:
        result = purchase_record(
            store=store,
            receipt_id=receipt_id,
            member=member,
            total_ore=sek * 100,
            purchased_at=None,
            lines=[rf.line("SKU-RACE", 1, sek * 100)],
        )
        assert result.created
        assert result.purchase.member_id is not None
        return "purchase", receipt_id, result.purchase.member_id, member.pk

    return job


def _capture(reservation_id: int, points: int, store: Any) -> Callable[[], Any]:
    def job() -> tuple[str, int, int, str]:
        result = reservation_capture(
            reservation_id=reservation_id,
            points=points,
            idempotency_key=f"capture-{reservation_id}",
            store=store,
        )
        return "capture", reservation_id, points, result["status"]

    return job


def _return(store: Any, receipt_id: str) -> Callable[[], Any]:
    def job() -> tuple[str, str, int, str]:
        ret, created = purchase_return(
            store=store, receipt_id=receipt_id, return_id=f"ret-{receipt_id}"
        )
        assert created
        return "return", receipt_id, ret.points_reversed, "ok"

    return job


def _voucher_use(store: Any, code: str) -> Callable[[], Any]:
    def job() -> tuple[str, str, int, str]:
        body = voucher_redeem(code=code, store=store, idempotency_key=f"use-{code}")
        return "voucher", code, 0, body["status"]

    return job


def _redeem(member: Member, points: int, key: str) -> Callable[[], Any]:
    def job() -> tuple[str, str, int, str]:
        try:
            points_redeem(member=member, points=points, idempotency_key=key)
        except InsufficientPointsError:
            return "redeem", key, points, "refused"
        except MemberMergedError:
            return "redeem", key, points, "merged"
        return "redeem", key, points, "ok"

    return job


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
@override_settings(REWARDS_PENDING_DAYS=0)
def test_purchases_and_redemptions_on_both_members_during_the_merge_lose_nothing():
    # given two members who are one person, 5,000 points each, and a rule of 1 p per krona
    rf.base_rule()
    store = factories.store(code="race-merge")
    survivor = factories.member_with_user(email="anna@example.se")
    merged = factories.member_with_user(email="anna.s@example.se")
    rf.earned(survivor, START)
    rf.earned(merged, START)
    rng = random.Random(15)
    jobs: list[Callable[[], Any]] = []
    # and baskets at the tills holding some of each member's points, captured meanwhile
    held = {
        member.pk: [
            points_reserve(
                member=member, points=100, idempotency_key=f"hold-{member.pk}-{n}", store=store
            )["reservation_id"]
            for n in range(RESERVATIONS)
        ]
        for member in (survivor, merged)
    }
    for reservation_ids in held.values():
        jobs += [_capture(pk, 60, store) for pk in reservation_ids]
    # and vouchers both claimed earlier, used at the tills meanwhile
    reward = rf.reward(code="race-coffee", points_cost=10)
    codes = [rf.claim(member, reward).code for member in (survivor, merged) for _n in range(10)]
    jobs += [_voucher_use(store, code) for code in codes]
    # and purchases made earlier (in another store), returned meanwhile
    earlier = factories.store(code="race-merge-earlier")
    for member in (survivor, merged):
        for n in range(RETURNS):
            receipt_id = f"E-{member.pk}-{n}"
            rf.purchase(
                store=earlier,
                member=member,
                receipt_id=receipt_id,
                lines=[rf.line("SKU-EARLIER", 1, 10000)],
            )
            jobs.append(_return(earlier, receipt_id))
    for member in (survivor, merged):
        for n in range(PER_MEMBER_PURCHASES):
            jobs.append(_purchase(store, member, f"M-{member.pk}-{n}", rng.randint(50, 400)))
        for n in range(PER_MEMBER_REDEMPTIONS):
            jobs.append(_redeem(member, rng.randint(20, 250), f"merge-race-{member.pk}-{n}"))
    rng.shuffle(jobs)

    # when the tills' purchases and redemptions for both race with the merge
    outcomes, audit = _run_with_merge(
        jobs,
        lambda: member_merge(survivor_id=survivor.pk, merged_id=merged.pk, reason="race"),
        merge_after=len(jobs) // 3,
    )

    # then the merge happened while both members were in use: some of the merged member's
    # purchases were moved by it, others came after and were recorded for the survivor
    assert MemberMerge.objects.filter(survivor=survivor, merged=merged).count() == 1
    # (the merged member's earlier purchases all moved: they were made before the race)
    moved = audit.moved["rewards.Purchase.member"] - RETURNS
    assert 0 < moved < PER_MEMBER_PURCHASES
    # each purchase exists once, and every one is the survivor's
    purchases = [o for o in outcomes if o[0] == "purchase"]
    receipts = {o[1] for o in purchases}
    assert len(receipts) == 2 * PER_MEMBER_PURCHASES
    assert Purchase.objects.filter(store=store).count() == len(receipts)
    assert not Purchase.objects.filter(member=merged).exists()
    # the merged member's purchases after the merge were recorded for the survivor at once
    redirected = [o for o in purchases if o[3] == merged.pk and o[2] == survivor.pk]
    assert moved + len(redirected) == PER_MEMBER_PURCHASES
    assert LedgerEntry.objects.filter(kind="earn", purchase__store=store).count() == len(receipts)
    assert purchases_credited_twice() == []
    # each redemption succeeded exactly once or was refused and wrote nothing (a redemption
    # for the merged member after the merge is refused, member_merged: the till identifies
    # the member again, and the card resolves to the survivor)
    redemptions = [o for o in outcomes if o[0] == "redeem"]
    assert len(redemptions) == 2 * PER_MEMBER_REDEMPTIONS
    for _kind, key, points, outcome in redemptions:
        written = list(
            LedgerEntry.objects.filter(idempotency_key=f"redeem:{key}").values_list(
                "points", flat=True
            )
        )
        assert written == ([points] if outcome == "ok" else []), (key, outcome)
    # each basket was captured once, from the survivor's points once the merge moved it
    captures = [o for o in outcomes if o[0] == "capture"]
    assert [o[3] for o in captures] == [Reservation.Status.CAPTURED] * 2 * RESERVATIONS
    rows = Reservation.objects.filter(pk__in=held[survivor.pk] + held[merged.pk])
    assert set(rows.values_list("status", "captured")) == {(Reservation.Status.CAPTURED, 60)}
    assert not rows.filter(pk__in=held[survivor.pk]).exclude(member=survivor).exists()
    assert audit.moved["rewards.reservations"] > 0  # some were still held when it merged
    # and the survivor holds everything earned by both, less everything spent by both
    earned = 2 * START + sum(
        Purchase.objects.filter(store=store).values_list("points_earned", flat=True)
    )
    spent = sum(points for _k, _key, points, outcome in redemptions if outcome == "ok")
    spent += 60 * len(captures)
    # each voucher was used once, and every one is the survivor's
    uses = [o for o in outcomes if o[0] == "voucher"]
    assert [o[3] for o in uses] == [Voucher.Status.USED] * len(codes)
    vouchers = Voucher.objects.filter(code__in=codes)
    assert set(vouchers.values_list("status", "member_id")) == {(Voucher.Status.USED, survivor.pk)}
    spent += 10 * len(codes)
    # and its timeline says so (the merge moved the events before it; none after it)
    used_events = ActivityEvent.objects.filter(kind=Kind.VOUCHER_USED)
    assert used_events.count() == len(codes)
    assert not used_events.filter(member=merged).exists()
    # each earlier purchase was returned once, its points taken back from whoever had them
    returns = [o for o in outcomes if o[0] == "return"]
    assert len(returns) == 2 * RETURNS
    assert Return.objects.filter(store=earlier).count() == 2 * RETURNS
    assert not Purchase.objects.filter(store=earlier, member=merged).exists()
    spent += sum(o[2] for o in returns)
    earned += sum(Purchase.objects.filter(store=earlier).values_list("points_earned", flat=True))
    balance = PointBalance.objects.get(member=survivor)
    assert balance.posted + balance.pending == earned - spent
    assert balance.reserved == 0
    tombstone = PointBalance.objects.get(member=merged)
    assert (tombstone.pending, tombstone.posted, tombstone.reserved) == (0, 0, 0)
    assert_invariants([survivor.pk, merged.pk])
