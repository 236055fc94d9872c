"""Purchases, earning rules, returns and claims, through the services."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from rewards.errors import (
    DuplicateReceiptConflictError,
    DuplicateReturnConflictError,
    PurchaseAlreadyClaimedError,
    PurchaseNotClaimableError,
    ReturnExceedsPurchaseError,
    UnknownLineError,
)
from rewards.ledger.points import points_redeem
from rewards.ledger.snapshots import balance_snapshot
from rewards.models import Category, LedgerEntry, MemberTier, PointBalance, PointLot, Product, Tier
from rewards.purchases.claims import purchase_claim
from rewards.purchases.products import catalogue_import_csv
from rewards.purchases.returns import purchase_return
from rewards.rules.earning import LineForEarning, earning_calculate, rules_active
from rewards.rules.events import checkin_record
from tests import factories
from tests.factories import rewards as rf
from tests.rewards.invariants import assert_invariants

pytestmark = pytest.mark.django_db
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def _balance(member) -> dict[str, int]:
    return balance_snapshot(PointBalance.objects.filter(member=member).first())


def test_purchase_record_earns_pending_points_with_explanation(member, store):
    rf.base_rule()
    result = rf.purchase(
        store=store,
        member=member,
        lines=[rf.line("RUN-1", 1, 119900, category="loparskor"), rf.line("SOCK", 2, 4950)],
    )
    assert result.created
    assert result.purchase.points_earned == 1199 + 99
    assert [line.points for line in result.lines] == [1199, 99]
    assert _balance(member) == {"available": 0, "pending": 1298, "reserved": 0, "posted": 0}
    entry = LedgerEntry.objects.get(kind="earn")
    assert entry.explanation[0]["points"] == 1298
    # unknown SKUs and categories were added to the catalogue on first sight
    assert Product.objects.get(sku="RUN-1").category == Category.objects.get(code="loparskor")
    event = member.events.get(kind="purchased")
    assert event.data == {
        "purchase_id": result.purchase.pk,
        "total_ore": result.purchase.total_ore,
        "points": 1298,
        "channel": store.kind,
    }
    assert (event.source, event.store_id, event.actor_id) == ("api", store.pk, None)
    assert event.created_at == result.purchase.recorded_at
    assert_invariants([member.pk])


def test_purchase_record_replay_returns_first_and_conflict_on_other_body(member, store):
    rf.base_rule()
    at = datetime.datetime(2026, 4, 1, 10, tzinfo=STOCKHOLM)
    first = rf.purchase(store=store, member=member, receipt_id="R-1", purchased_at=at)
    replay = rf.purchase(store=store, member=member, receipt_id="R-1", purchased_at=at)
    assert not replay.created
    assert replay.purchase.pk == first.purchase.pk
    with pytest.raises(DuplicateReceiptConflictError):
        rf.purchase(store=store, member=member, receipt_id="R-1", purchased_at=at, total_ore=1)
    assert LedgerEntry.objects.filter(kind="earn").count() == 1
    # the same receipt id in another store is another purchase
    other = rf.purchase(store=factories.store(code="other"), member=member, receipt_id="R-1")
    assert other.created


def test_purchase_record_each_shape_of_the_statement(member, store):
    """The purchase statement adds the earn and the timeline parts only when due."""
    rf.base_rule(min_purchase_ore=5000)
    now = timezone.now()
    # An old receipt: its points are available at once (a matured lot, posted).
    old = rf.purchase(
        store=store,
        member=member,
        purchased_at=now - datetime.timedelta(days=30),
        lines=[rf.line("A", 1, 20000)],
    )
    assert old.purchase.points_earned == 200
    lot = PointLot.objects.get(purchase=old.purchase)
    assert (lot.matured, lot.remaining) == (True, 200)
    assert _balance(member) == {"available": 200, "pending": 0, "reserved": 0, "posted": 200}
    # A member's purchase that earns nothing: the timeline event, but no entry or lot.
    small = rf.purchase(store=store, member=member, lines=[rf.line("B", 1, 4999)])
    assert small.created
    assert small.purchase.points_earned == 0
    assert small.purchase.points_available_at is None
    assert not LedgerEntry.objects.filter(purchase=small.purchase).exists()
    assert not PointLot.objects.filter(purchase=small.purchase).exists()
    event = member.events.get(kind="purchased", data__purchase_id=small.purchase.pk)
    assert event.data["points"] == 0
    # No member: the purchase and its lines only.
    anonymous = rf.purchase(store=store, member=None, lines=[rf.line("C", 2, 10000)])
    assert anonymous.created
    assert anonymous.purchase.member_id is None
    assert [line.line_no for line in anonymous.purchase.lines.order_by("line_no")] == [1]
    assert not LedgerEntry.objects.filter(purchase=anonymous.purchase).exists()
    assert member.events.filter(kind="purchased").count() == 2
    assert_invariants([member.pk])


def test_earning_rules_multipliers_exclusions_tier_and_minimum(member, store):
    shoes = Category.objects.create(code="loparskor", name="Löparskor")
    tobacco = Category.objects.create(code="tobak", name="Tobak")
    gold = Tier.objects.create(code="gold", name_sv="Guld", name_en="Gold", rank=2)
    MemberTier.objects.create(member=member, tier=gold)
    rf.base_rule(min_purchase_ore=5000)
    rf.multiplier_rule(
        multiplier="2", name_sv="2x på löparskor", name_en="2x on running shoes", category=shoes
    )
    rf.multiplier_rule(multiplier="1.5", name_sv="Guldbonus", name_en="Gold bonus", tier=gold)
    rf.exclusion_rule(category=tobacco)
    Product.objects.create(sku="RUN-1", category=shoes)
    Product.objects.create(sku="SNUS", category=tobacco)
    member = type(member).objects.select_related("member_tier").get(pk=member.pk)

    result = rf.purchase(
        store=store,
        member=member,
        lines=[rf.line("RUN-1", 1, 12000), rf.line("SNUS", 1, 6000), rf.line("X", 1, 1000)],
    )
    # base 120 + 10; shoes +120; gold +60 + 5; snus earns nothing
    assert [line.points for line in result.lines] == [300, 0, 15]
    texts = {part["sv"]: part["points"] for part in result.purchase.explanation}
    assert texts == {"1 p per krona": 130, "2x på löparskor": 120, "Guldbonus": 65}
    # below the minimum purchase nothing is earned
    small = rf.purchase(store=store, member=member, lines=[rf.line("X", 1, 4999)])
    assert small.purchase.points_earned == 0


def test_earning_rules_date_window_and_store(store):
    other = factories.store(code="webshop", kind="webshop")
    rf.base_rule()
    rf.multiplier_rule(
        multiplier="3",
        store=other,
        valid_from=datetime.date(2026, 5, 1),
        valid_until=datetime.date(2026, 5, 31),
    )
    lines = [LineForEarning(product_id=None, category_id=None, quantity=1, unit_price_ore=1000)]

    def points(store_id: int, day: datetime.date) -> int:
        return earning_calculate(
            lines=lines,
            store_id=store_id,
            tier_id=None,
            day=day,
            total_ore=1000,
            rules=rules_active(),
        ).total

    assert points(other.pk, datetime.date(2026, 5, 15)) == 30
    assert points(other.pk, datetime.date(2026, 6, 1)) == 10
    assert points(store.pk, datetime.date(2026, 5, 15)) == 10


@pytest.mark.parametrize(("rounding", "expected"), [("down", 12), ("nearest", 13), ("up", 13)])
def test_earning_rounding_rule(store, rounding, expected):
    rf.base_rule(rounding=rounding)
    lines = [LineForEarning(product_id=None, category_id=None, quantity=1, unit_price_ore=1250)]
    got = earning_calculate(
        lines=lines,
        store_id=store.pk,
        tier_id=None,
        day=datetime.date(2026, 1, 1),
        total_ore=1250,
        rules=rules_active(),
    )
    assert got.total == expected


def test_purchase_return_partial_is_pro_rata_and_never_exceeds_earned(member, store):
    rf.base_rule()
    result = rf.purchase(
        store=store,
        member=member,
        receipt_id="R-9",
        lines=[rf.line("A", 3, 1000), rf.line("B", 1, 5000)],
    )  # 30 + 50 points
    ret, created = purchase_return(store=store, receipt_id="R-9", return_id="RET-1", lines=[(1, 1)])
    assert created
    assert ret.points_reversed == 10
    replay, created_again = purchase_return(
        store=store, receipt_id="R-9", return_id="RET-1", lines=[(1, 1)]
    )
    assert not created_again
    assert replay.pk == ret.pk
    with pytest.raises(DuplicateReturnConflictError):
        purchase_return(store=store, receipt_id="R-9", return_id="RET-1", lines=[(1, 2)])
    with pytest.raises(ReturnExceedsPurchaseError):
        purchase_return(store=store, receipt_id="R-9", return_id="RET-2", lines=[(1, 3)])
    with pytest.raises(UnknownLineError):
        purchase_return(store=store, receipt_id="R-9", return_id="RET-3", lines=[(7, 1)])
    full, _created = purchase_return(store=store, receipt_id="R-9", return_id="RET-4")
    assert full.points_reversed == 70
    result.purchase.refresh_from_db()
    assert result.purchase.points_reversed == result.purchase.points_earned == 80
    with pytest.raises(ReturnExceedsPurchaseError):
        purchase_return(store=store, receipt_id="R-9", return_id="RET-5")
    assert _balance(member)["pending"] == 0
    assert_invariants([member.pk])


def test_purchase_return_rounding_over_three_returns_reverses_exactly_earned(member, store):
    rf.base_rule()
    rf.purchase(store=store, member=member, receipt_id="R-3", lines=[rf.line("A", 3, 333)])  # 9 p
    reversed_total = 0
    for n in range(3):
        ret, _ = purchase_return(store=store, receipt_id="R-3", return_id=f"X{n}", lines=[(1, 1)])
        reversed_total += ret.points_reversed
    assert reversed_total == 9


def test_purchase_return_after_window_takes_available_points_only(member, store):
    rf.base_rule()
    start = datetime.datetime(2026, 2, 1, 12, tzinfo=STOCKHOLM)
    with time_machine.travel(start, tick=False):
        rf.purchase(store=store, member=member, receipt_id="R-5", lines=[rf.line("A", 1, 10000)])
    with time_machine.travel(start + datetime.timedelta(days=20), tick=False):
        points_redeem(member=member, points=70, idempotency_key="spend")
        ret, _ = purchase_return(store=store, receipt_id="R-5", return_id="RET")
    assert (ret.points_reversed, ret.points_unrecovered) == (30, 70)
    assert _balance(member)["available"] == 0
    assert_invariants([member.pk])


def test_purchase_claim_once_within_period(member, store):
    rf.base_rule()
    start = datetime.datetime(2026, 2, 1, 12, tzinfo=STOCKHOLM)
    with time_machine.travel(start, tick=False):
        rf.purchase(store=store, member=None, receipt_id="R-7", lines=[rf.line("A", 1, 25000)])
        assert not LedgerEntry.objects.exists()
    other = factories.member_with_user(email="other@example.se")
    with time_machine.travel(start + datetime.timedelta(days=2), tick=False):
        with pytest.raises(PurchaseNotClaimableError):
            purchase_claim(member=member, store=store, receipt_id="R-7", total_ore=24999)
        purchase = purchase_claim(member=member, store=store, receipt_id="R-7", total_ore=25000)
        with pytest.raises(PurchaseAlreadyClaimedError):
            purchase_claim(member=other, store=store, receipt_id="R-7", total_ore=25000)
    assert purchase.member == member
    assert _balance(member)["pending"] == 250
    assert PointLot.objects.get().available_at == start + datetime.timedelta(days=14)
    with time_machine.travel(start + datetime.timedelta(days=31), tick=False):
        rf.purchase(
            store=store,
            member=None,
            receipt_id="R-8",
            lines=[rf.line("A", 1, 100)],
            purchased_at=start,
        )
        with pytest.raises(PurchaseNotClaimableError):
            purchase_claim(member=member, store=store, receipt_id="R-8", total_ore=100)
    assert_invariants([member.pk])


def test_catalogue_import_csv_creates_and_updates():
    created, updated = catalogue_import_csv(
        rows=[{"sku": "A1", "name": "Sko", "category_code": "skor", "category_name": "Skor"}]
    )
    assert (created, updated) == (1, 0)
    created, updated = catalogue_import_csv(rows=[{"sku": "A1", "name": "Sko 2"}])
    assert (created, updated) == (0, 1)
    assert Product.objects.get(sku="A1").name == "Sko 2"


def test_event_points_award_respects_cap_per_period(member, store):
    rf.event_rule(event="check_in", points=10, cap=1, period="day")
    day = datetime.datetime(2026, 3, 2, 9, tzinfo=STOCKHOLM)
    with time_machine.travel(day, tick=False):
        _c1, first = checkin_record(member=member, store=store, idempotency_key="c1")
        _c2, second = checkin_record(member=member, store=store, idempotency_key="c2")
        _c1b, replay = checkin_record(member=member, store=store, idempotency_key="c1")
    with time_machine.travel(day + datetime.timedelta(days=1), tick=False):
        _c3, third = checkin_record(member=member, store=store, idempotency_key="c3")
    assert [len(first), len(second), len(replay), len(third)] == [1, 0, 1, 1]
    assert _balance(member)["available"] == 20
    assert member.events.filter(kind="checked_in").count() == 3
    assert_invariants([member.pk])


def test_joined_event_rule_awards_once_via_timeline(db, django_capture_on_commit_callbacks):
    rf.event_rule(event="joined", points=100)
    with django_capture_on_commit_callbacks(execute=True):
        newcomer = factories.member_with_user(email="new@example.se")
    assert _balance(newcomer)["available"] == 100
    from members.activity import activity_consume

    event = newcomer.events.get(kind="joined")
    assert activity_consume(event_id=event.pk) == 0  # redelivery does nothing
    assert _balance(newcomer)["available"] == 100
