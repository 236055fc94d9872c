"""Vouchers: used exactly once, idempotently; cancelling an unused one returns the points;
the till and web-shop API (validate, redeem, list) with scopes and stores."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from members.activity import Kind
from members.models import ActivityEvent
from rewards.errors import (
    BasketBelowMinimumError,
    UnknownVoucherError,
    VoucherExpiredError,
    VoucherNotCancellableError,
    VoucherUsedError,
)
from rewards.loyalty import catalogue
from rewards.models import PointBalance, Reward, Voucher
from tests import factories
from tests.factories import rewards as rf
from tests.rewards.invariants import assert_invariants

pytestmark = pytest.mark.django_db


@pytest.fixture
def voucher(member):
    rf.earned(member, 1000)
    reward = rf.reward(points_cost=300, stock=10, amount_off_ore=5000, min_basket_ore=20000)
    return rf.claim(member, reward)


def _till(store, scopes: list[str]) -> APIClient:
    _key, secret = factories.api_key_with_secret(store_obj=store, scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


def test_voucher_redeem_exactly_once_and_replay_gets_the_same_answer(voucher, store):
    # when a till redeems the voucher
    first = catalogue.voucher_redeem(
        code=voucher.formatted_code.lower(),
        store=store,
        idempotency_key="r1",
        basket_total_ore=30000,
    )

    # then it is used, in this store, with its discount
    assert first["status"] == "used"
    assert first["used_store"] == store.code
    assert first["discount_ore"] == 5000
    assert ActivityEvent.objects.filter(kind=Kind.VOUCHER_USED, data__voucher_id=voucher.pk)
    # and a retry with the same key gets the same answer
    again = catalogue.voucher_redeem(code=voucher.code, store=store, idempotency_key="r1")
    assert again["used_at"] == first["used_at"]
    # but another redemption is refused
    with pytest.raises(VoucherUsedError):
        catalogue.voucher_redeem(code=voucher.code, store=store, idempotency_key="r2")
    assert ActivityEvent.objects.filter(kind=Kind.VOUCHER_USED).count() == 1


def test_voucher_redeem_refuses_small_basket_expired_unknown(voucher, store):
    with pytest.raises(BasketBelowMinimumError):
        catalogue.voucher_redeem(
            code=voucher.code, store=store, idempotency_key="a", basket_total_ore=19999
        )
    with pytest.raises(UnknownVoucherError):
        catalogue.voucher_redeem(code="NOPE-NOPE", store=store, idempotency_key="b")
    expired = time_machine.travel(voucher.valid_until + datetime.timedelta(seconds=1))
    with expired, pytest.raises(VoucherExpiredError):
        catalogue.voucher_redeem(code=voucher.code, store=store, idempotency_key="c")
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.ISSUED


def test_voucher_redeem_accepts_the_qr_payload(voucher, store):
    body = catalogue.voucher_redeem(
        code=f"{catalogue.QR_PREFIX}{voucher.code}", store=store, idempotency_key="qr"
    )
    assert body["status"] == "used"


def test_voucher_cancel_returns_points_and_stock_once(voucher, member):
    # given an unused voucher bought for 300 points (700 left)
    assert PointBalance.objects.get(member=member).available == 700

    # when the member cancels it
    catalogue.voucher_cancel(voucher_id=voucher.pk, member=member)

    # then the points and the unit come back, and a second cancel is refused
    assert PointBalance.objects.get(member=member).available == 1000
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.CANCELLED
    assert Reward.objects.get(pk=voucher.reward_id).stock_left == 10
    with pytest.raises(VoucherNotCancellableError):
        catalogue.voucher_cancel(voucher_id=voucher.pk, member=member)
    assert PointBalance.objects.get(member=member).available == 1000
    assert_invariants([member.pk])


def test_voucher_cancel_refused_when_used_or_not_own(voucher, member, store):
    other = factories.member_with_user()
    with pytest.raises(UnknownVoucherError):
        catalogue.voucher_cancel(voucher_id=voucher.pk, member=other)
    catalogue.voucher_redeem(code=voucher.code, store=store, idempotency_key="x")
    with pytest.raises(VoucherNotCancellableError):
        catalogue.voucher_cancel(voucher_id=voucher.pk, member=member)
    assert PointBalance.objects.get(member=member).available == 700


# --- API ------------------------------------------------------------------------------------


def test_api_voucher_validate_and_redeem(voucher, store):
    till = _till(store, ["vouchers:read", "vouchers:write"])

    # when the till validates the voucher against a basket
    response = till.post(
        "/api/v1/vouchers/validate/",
        {"code": voucher.formatted_code, "basket_total_ore": 25000},
        format="json",
    )
    # then it learns what it gives
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["reward"]["amount_off_ore"] == 5000
    assert body["discount_ore"] == 5000
    assert body["status"] == "issued"

    # when it redeems twice with the same key, then both answers are the same success
    payload = {"code": voucher.code, "idempotency_key": "K1-1", "basket_total_ore": 25000}
    first = till.post("/api/v1/vouchers/redeem/", payload, format="json")
    second = till.post("/api/v1/vouchers/redeem/", payload, format="json")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()

    # and another key gets a clear conflict, as does validating it now
    third = till.post(
        "/api/v1/vouchers/redeem/", payload | {"idempotency_key": "K1-2"}, format="json"
    )
    assert third.status_code == 409
    assert third.json()["error"]["code"] == "voucher_used"
    check = till.post("/api/v1/vouchers/validate/", {"code": voucher.code}, format="json")
    assert check.json()["error"]["code"] == "voucher_used"


def test_api_voucher_errors_are_clear(voucher, store):
    till = _till(store, ["vouchers:read", "vouchers:write"])
    small = till.post(
        "/api/v1/vouchers/redeem/",
        {"code": voucher.code, "idempotency_key": "s", "basket_total_ore": 100},
        format="json",
    )
    assert small.status_code == 400
    assert small.json()["error"]["code"] == "basket_below_minimum"
    unknown = till.post("/api/v1/vouchers/validate/", {"code": "XXXX"}, format="json")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_voucher"
    bad = till.post("/api/v1/vouchers/redeem/", {"code": voucher.code}, format="json")
    assert bad.status_code == 400
    voucher.refresh_from_db()
    assert voucher.status == "issued"


def test_api_voucher_scopes_and_store(voucher, store):
    # a read-only key cannot redeem; a key of store A cannot act for store B
    reader = _till(store, ["vouchers:read"])
    denied = reader.post(
        "/api/v1/vouchers/redeem/", {"code": voucher.code, "idempotency_key": "k"}, format="json"
    )
    assert denied.status_code == 403
    other_store = factories.store(code="goteborg")
    writer = _till(store, ["vouchers:write"])
    wrong = writer.post(
        "/api/v1/vouchers/redeem/",
        {"code": voucher.code, "idempotency_key": "k", "store": other_store.code},
        format="json",
    )
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "wrong_store"
    nobody = APIClient().post("/api/v1/vouchers/validate/", {"code": voucher.code}, format="json")
    assert nobody.status_code in (401, 403)
    voucher.refresh_from_db()
    assert voucher.status == "issued"


def test_api_voucher_list_usable_only_in_fixed_queries(member, store):
    # given three usable vouchers, one used and one cancelled
    rf.earned(member, 5000)
    reward = rf.reward(points_cost=100)
    vouchers = [rf.claim(member, reward) for _ in range(5)]
    catalogue.voucher_redeem(code=vouchers[0].code, store=store, idempotency_key="u")
    catalogue.voucher_cancel(voucher_id=vouchers[1].pk, member=member)
    till = _till(store, ["vouchers:read"])

    # when the web shop lists them
    with CaptureQueriesContext(connection) as queries:
        response = till.post(
            "/api/v1/vouchers/member/",
            {"member": {"membership_number": member.membership_number}},
            format="json",
        )

    # then only the usable ones come back, in a fixed number of queries
    assert response.status_code == 200
    codes = [v["code"] for v in response.json()["vouchers"]]
    assert sorted(codes) == sorted(v.code for v in vouchers[2:])
    assert len(queries) <= 6
    assert timezone.now() < datetime.datetime.fromisoformat(
        response.json()["vouchers"][0]["valid_until"]
    )


def test_voucher_redeem_invitation_ticket_is_a_check_in(member, store):
    # given a ticket to an exclusive sale
    ticket = rf.claim(member, rf.reward(kind=Reward.Kind.INVITATION, points_cost=0, stock=20))

    # when it is scanned at the door
    catalogue.voucher_redeem(
        code=f"{catalogue.QR_PREFIX}{ticket.code}", store=store, idempotency_key="door"
    )

    # then the member is checked in there (once, even if scanned again with the same key)
    catalogue.voucher_redeem(code=ticket.code, store=store, idempotency_key="door")
    from rewards.models import CheckIn

    assert CheckIn.objects.filter(member=member, store=store).count() == 1
    assert ActivityEvent.objects.filter(member=member, kind=Kind.CHECKED_IN).count() == 1
