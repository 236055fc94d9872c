"""A refused purchase, return or reservation writes nothing (issue 11, finding 9).

Unknown SKUs and categories are added to the catalogue inside the purchase's own
transaction, so a conflict or an error that rolls the purchase back takes them with it, and
the per-process product cache only learns rows once they are committed.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from rewards.errors import DuplicateReceiptConflictError
from rewards.models import (
    Category,
    IdempotencyRecord,
    LedgerEntry,
    Product,
    Purchase,
    PurchaseLine,
    Reservation,
    Return,
)
from rewards.purchases import products
from rewards.purchases.recording import purchase_record
from rewards.purchases.types import LineInput
from tests import factories
from tests.factories import rewards as rf


def _line(sku: str, category: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "sku": sku,
        "name": f"Vara {sku}",
        "category": category,
        "quantity": 1,
        "unit_price_ore": 10000,
        **extra,
    }


def _body(member: Any, *lines: dict[str, Any], receipt: str = "R-9") -> dict[str, Any]:
    return {
        "receipt_id": receipt,
        "member": {"membership_number": member.membership_number},
        "total_ore": 10000 * len(lines),
        "lines": list(lines),
    }


def _catalogue() -> tuple[set[str], set[str]]:
    return (
        set(Product.objects.values_list("sku", flat=True)),
        set(Category.objects.values_list("code", flat=True)),
    )


def _cache_is_committed() -> None:
    """Every id the per-process cache holds is a committed row with that SKU and category."""
    rows = {sku: (pk, cat) for pk, sku, cat in Product.objects.values_list("pk", "sku", "category")}
    for sku, (pk, category_id, _vat, _until) in products._products_cache.items():
        assert rows.get(sku) == (pk, category_id), f"cache holds {sku!r} -> {pk} (not committed)"


@pytest.mark.django_db
def test_conflicting_replay_with_a_new_sku_and_category_adds_nothing(till, member):
    rf.base_rule()
    client, _key = till
    first = client.post("/api/v1/purchases/", _body(member, _line("OLD-1", "skor")), format="json")
    assert first.status_code == 201, first.json()
    before = _catalogue()
    counts = (Purchase.objects.count(), PurchaseLine.objects.count(), LedgerEntry.objects.count())

    conflict = client.post(
        "/api/v1/purchases/",
        _body(member, _line("OLD-1", "skor"), _line("NEW-SKU-2", "ny-kategori")),
        format="json",
    )

    assert conflict.status_code == 409, conflict.json()
    assert conflict.json()["error"]["code"] == "duplicate_receipt_conflict"
    assert _catalogue() == before, "the refused purchase added products or categories"
    after = (Purchase.objects.count(), PurchaseLine.objects.count(), LedgerEntry.objects.count())
    assert after == counts
    assert "NEW-SKU-2" not in products._products_cache


@pytest.mark.django_db
def test_a_purchase_failing_after_its_products_are_resolved_adds_nothing(store, member):
    rf.base_rule()
    before = _catalogue()
    # A negative quantity passes the service's arithmetic but not the line's constraint:
    # the failure comes after the new SKU and category were resolved.
    with pytest.raises(IntegrityError):
        purchase_record(
            store=store,
            receipt_id="R-BAD",
            member=member,
            total_ore=10000,
            purchased_at=None,
            lines=[
                LineInput(sku="FRESH-1", quantity=1, unit_price_ore=20000, category="fresh"),
                LineInput(sku="FRESH-2", quantity=-1, unit_price_ore=10000),
            ],
        )
    assert _catalogue() == before
    assert not Purchase.objects.filter(receipt_id="R-BAD").exists()
    assert not products._products_cache


@pytest.mark.django_db(transaction=True)
def test_the_product_cache_never_learns_a_rolled_back_product(store, member):
    rf.base_rule()

    # given a purchase that created a SKU inside a transaction that then rolled back
    def in_a_failing_transaction() -> None:
        with transaction.atomic():
            rf.purchase(store=store, member=member, lines=[rf.line("GHOST", 1, 5000)])
            assert Product.objects.filter(sku="GHOST").exists()
            raise RuntimeError("the caller's transaction fails")

    with pytest.raises(RuntimeError):
        in_a_failing_transaction()
    assert not Product.objects.filter(sku="GHOST").exists()
    assert "GHOST" not in products._products_cache
    # and a refused replay that would have created another
    rf.purchase(store=store, member=member, receipt_id="R-1", lines=[rf.line("REAL", 1, 5000)])
    with pytest.raises(DuplicateReceiptConflictError):
        rf.purchase(
            store=store,
            member=member,
            receipt_id="R-1",
            lines=[rf.line("REAL", 1, 5000), rf.line("GHOST-2", 1, 5000)],
        )
    _cache_is_committed()
    assert {"GHOST", "GHOST-2"}.isdisjoint(products._products_cache)
    # then the committed SKU is cached and a later purchase of the ghost SKU creates it anew
    assert "REAL" in products._products_cache
    later = rf.purchase(store=store, member=member, lines=[rf.line("GHOST", 1, 5000)])
    assert later.lines[0].product_id == Product.objects.get(sku="GHOST").pk
    _cache_is_committed()


@pytest.mark.django_db(transaction=True)
def test_two_purchases_with_the_same_new_sku_at_once_both_succeed(store):
    rf.base_rule()
    members = [factories.member_with_user() for _ in range(8)]
    barrier = threading.Barrier(len(members))
    results: list[Any] = []
    errors: list[BaseException] = []

    pair = [rf.line(f"BRAND-NEW-{x}", 1, 5000, category="helt-ny") for x in "AB"]

    def buy(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(
                rf.purchase(
                    store=store,
                    member=members[n],
                    receipt_id=f"SAME-{n}",
                    # both new SKUs, in opposite orders: the catalogue is written in SKU order
                    lines=pair if n % 2 else pair[::-1],
                )
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=buy, args=(n,)) for n in range(len(members))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(results) == len(members)
    assert Product.objects.filter(sku__startswith="BRAND-NEW").count() == 2
    assert Category.objects.filter(code="helt-ny").count() == 1
    assert Purchase.objects.filter(receipt_id__startswith="SAME-").count() == len(members)


@pytest.mark.django_db
def test_refused_returns_captures_and_reservations_write_nothing(till, member, store):
    client, _key = till
    rf.base_rule()
    rf.earned(member, 1000)
    rf.purchase(store=store, member=member, receipt_id="R-RET", lines=[rf.line("X", 2, 5000)])
    ref = {"membership_number": member.membership_number}

    def counts() -> tuple[int, ...]:
        return (
            Return.objects.count(),
            IdempotencyRecord.objects.count(),
            Reservation.objects.count(),
            LedgerEntry.objects.count(),
            PurchaseLine.objects.filter(returned_quantity__gt=0).count(),
        )

    before = counts()
    refused = [
        # a return of more than was bought, of an unknown line, of an unknown receipt
        client.post(
            "/api/v1/purchases/R-RET/returns/",
            {"return_id": "RET-1", "lines": [{"line_no": 1, "quantity": 3}]},
            format="json",
        ),
        client.post(
            "/api/v1/purchases/R-RET/returns/",
            {
                "return_id": "RET-2",
                "lines": [{"line_no": 1, "quantity": 1}, {"line_no": 9, "quantity": 1}],
            },
            format="json",
        ),
        client.post("/api/v1/purchases/NOPE/returns/", {"return_id": "RET-3"}, format="json"),
        # reserving more than the member has, capturing an unknown reservation
        client.post(
            "/api/v1/points/reservations/",
            {"member": ref, "points": 999_999, "idempotency_key": "res-1"},
            format="json",
        ),
        client.post(
            "/api/v1/points/reservations/987654/capture/",
            {"points": 1, "idempotency_key": "cap-1"},
            format="json",
        ),
        client.post(
            "/api/v1/points/redeem/",
            {"member": ref, "points": 999_999, "idempotency_key": "red-1"},
            format="json",
        ),
    ]
    assert [r.status_code for r in refused] == [400, 400, 404, 409, 404, 409], [
        r.json() for r in refused
    ]
    assert counts() == before
    # a capture beyond the reservation is refused and the reservation stays active
    reserved = client.post(
        "/api/v1/points/reservations/",
        {"member": ref, "points": 100, "idempotency_key": "res-2"},
        format="json",
    )
    assert reserved.status_code == 201, reserved.json()
    rid = reserved.json()["reservation_id"]
    before = counts()
    too_much = client.post(
        f"/api/v1/points/reservations/{rid}/capture/",
        {"points": 101, "idempotency_key": "cap-2"},
        format="json",
    )
    assert too_much.status_code == 400, too_much.json()
    assert counts() == before
    assert Reservation.objects.get(pk=rid).status == Reservation.Status.ACTIVE
