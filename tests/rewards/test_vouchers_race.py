"""Claims and redemptions at the same moment, with real threads on PostgreSQL: stock is never
oversold, no point is lost, and a voucher is used exactly once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

from rewards.errors import (
    InsufficientPointsError,
    MemberLimitReachedError,
    SoldOutError,
    VoucherNotCancellableError,
)
from rewards.loyalty import catalogue
from rewards.models import LedgerEntry, PointBalance, Reward, Voucher
from tests import factories
from tests.factories import rewards as rf
from tests.rewards.invariants import assert_invariants

pytestmark = [pytest.mark.race, pytest.mark.django_db(transaction=True)]


# PostgreSQL's 100 connections are shared with the rest of the machine: 16 threads, each
# with its own connection, work through the jobs (released together by a barrier).
THREADS = 16


def _all_at_once(jobs: list[Callable[[], Any]], threads: int = THREADS) -> list[Any]:
    """Run ``jobs`` on real threads released together; each thread closes its connection.
    Returns each job's result or the exception it raised, in the jobs' order."""
    threads = min(threads, len(jobs))
    results: list[Any] = [None] * len(jobs)
    barrier = threading.Barrier(threads)

    def worker(offset: int) -> None:
        try:
            barrier.wait(timeout=30)
            for index in range(offset, len(jobs), threads):
                try:
                    results[index] = jobs[index]()
                except Exception as exc:  # the test inspects every outcome
                    results[index] = exc
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    return results


def test_reward_claim_100_members_10_in_stock():
    # given 100 members with 500 points each and a reward for 300 points, 10 in stock
    members = [factories.member_with_user() for _ in range(100)]
    for member in members:
        rf.earned(member, 500)
    reward = rf.reward(points_cost=300, stock=10)

    # when all of them claim it at the same moment
    outcomes = _all_at_once(
        [
            (
                lambda m=member: catalogue.reward_claim(
                    member=m, reward=reward, idempotency_key=f"race-{m.pk}"
                )
            )
            for member in members
        ]
    )

    # then exactly 10 vouchers, 90 clear "sold out" answers and nothing else
    won = [o for o in outcomes if isinstance(o, Voucher)]
    sold_out = [o for o in outcomes if isinstance(o, SoldOutError)]
    others = [o for o in outcomes if not isinstance(o, Voucher | SoldOutError)]
    assert others == []
    assert len(won) == 10
    assert len(sold_out) == 90
    assert Voucher.objects.filter(reward=reward).count() == 10
    assert len({v.code for v in won}) == 10
    assert Reward.objects.get(pk=reward.pk).stock_left == 0
    # and no point was lost: winners paid 300, everyone else kept all 500
    winners = {v.member_id for v in won}
    for member in members:
        expected = 200 if member.pk in winners else 500
        assert PointBalance.objects.get(member=member).available == expected
    assert LedgerEntry.objects.filter(kind="redeem").count() == 10
    assert_invariants([m.pk for m in members])


def test_reward_claim_one_member_many_tabs_cannot_overspend_or_pass_the_limit():
    # given a member with 1,000 points and a reward for 300, at most 2 per member
    member = factories.member_with_user()
    rf.earned(member, 1000)
    reward = rf.reward(points_cost=300, stock=50, per_member_limit=2)

    # when 12 claims with different keys arrive at once
    outcomes = _all_at_once(
        [
            (
                lambda n=n: catalogue.reward_claim(
                    member=member, reward=reward, idempotency_key=f"tab-{n}"
                )
            )
            for n in range(12)
        ]
    )

    # then exactly two succeed, the rest hit the limit, and 400 points remain
    assert sum(isinstance(o, Voucher) for o in outcomes) == 2
    assert all(
        isinstance(o, Voucher | MemberLimitReachedError | InsufficientPointsError) for o in outcomes
    )
    assert PointBalance.objects.get(member=member).available == 400
    assert Reward.objects.get(pk=reward.pk).stock_left == 48
    assert_invariants([member.pk])


def test_voucher_redeem_20_times_from_two_tills_exactly_one_success():
    # given one voucher and two tills in two stores, each with its own API key
    member = factories.member_with_user()
    rf.earned(member, 500)
    voucher = rf.claim(member, rf.reward(points_cost=300))
    tills = []
    for code in ("till-a", "till-b"):
        _key, secret = factories.api_key_with_secret(
            store_obj=factories.store(code=code), scopes=["vouchers:write"]
        )
        tills.append(secret)

    def redeem(n: int) -> tuple[int, dict[str, Any]]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {tills[n % 2]}")
        response = client.post(
            "/api/v1/vouchers/redeem/",
            {"code": voucher.code, "idempotency_key": f"attempt-{n}"},
            format="json",
        )
        return response.status_code, response.json()

    # when the voucher is redeemed 20 times at once
    outcomes = _all_at_once([(lambda n=n: redeem(n)) for n in range(20)])

    # then exactly one success; the other 19 are a clear "already used"
    statuses = sorted(status for status, _body in outcomes)
    assert statuses == [200] + [409] * 19, outcomes
    assert all(
        body["error"]["code"] == "voucher_used" for status, body in outcomes if status == 409
    )
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.USED
    assert voucher.used_store is not None
    assert voucher.used_store.code in ("till-a", "till-b")


def test_partner_reward_claims_draw_distinct_codes():
    # given a partner reward with 5 codes and 12 members claiming at once
    reward = rf.reward(kind=Reward.Kind.PARTNER, points_cost=100, amount_off_ore=None)
    catalogue.partner_codes_upload(reward=reward, lines=[f"P-{n}" for n in range(5)])
    members = [factories.member_with_user() for _ in range(12)]
    for member in members:
        rf.earned(member, 100)

    outcomes = _all_at_once(
        [
            (
                lambda m=member: catalogue.reward_claim(
                    member=m, reward=Reward.objects.get(pk=reward.pk), idempotency_key=f"p-{m.pk}"
                )
            )
            for member in members
        ]
    )

    # then five vouchers with five different codes; the pool is empty; nobody lost points
    won = [o for o in outcomes if isinstance(o, Voucher)]
    assert len(won) == 5
    assert sorted(v.partner_code for v in won) == [f"P-{n}" for n in range(5)]
    assert sum(isinstance(o, SoldOutError) for o in outcomes) == 7
    assert_invariants([m.pk for m in members])


def test_reward_claim_same_key_from_many_threads_issues_one_voucher():
    # given a member double-clicking "claim" (the same key, ten times at once)
    member = factories.member_with_user()
    rf.earned(member, 1000)
    reward = rf.reward(points_cost=300, stock=5)

    outcomes = _all_at_once(
        [
            (lambda: catalogue.reward_claim(member=member, reward=reward, idempotency_key="dbl"))
            for _ in range(10)
        ]
    )

    # then every answer is the same voucher and the points were spent once
    assert all(isinstance(o, Voucher) for o in outcomes), outcomes
    assert len({o.pk for o in outcomes}) == 1
    assert PointBalance.objects.get(member=member).available == 700
    assert Reward.objects.get(pk=reward.pk).stock_left == 4
    assert_invariants([member.pk])


def test_voucher_cancel_concurrently_refunds_once():
    # given a voucher cancelled from two tabs and the back-office at the same moment
    member = factories.member_with_user()
    rf.earned(member, 500)
    reward = rf.reward(points_cost=300, stock=3)
    voucher = rf.claim(member, reward)

    outcomes = _all_at_once(
        [(lambda: catalogue.voucher_cancel(voucher_id=voucher.pk)) for _ in range(10)]
    )

    # then one cancellation, nine clear refusals, the points and the unit back once
    assert sum(isinstance(o, Voucher) for o in outcomes) == 1
    assert sum(isinstance(o, VoucherNotCancellableError) for o in outcomes) == 9
    assert PointBalance.objects.get(member=member).available == 500
    assert Reward.objects.get(pk=reward.pk).stock_left == 3
    assert_invariants([member.pk])
