"""The ledger's services: spend, reserve, capture, release, adjust, mature and expire."""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from rewards.errors import (
    CaptureExceedsReservationError,
    IdempotencyConflictError,
    InsufficientPointsError,
    ReservationExpiredError,
    ReservationResolvedError,
    UnknownReservationError,
)
from rewards.ledger.expiry import points_expire_due, points_mature_due
from rewards.ledger.lots import lot_expiry
from rewards.ledger.points import points_adjust, points_redeem
from rewards.ledger.reservations import (
    points_reserve,
    reservation_capture,
    reservation_release,
    reservations_timeout,
)
from rewards.ledger.snapshots import balance_snapshot
from rewards.models import LedgerEntry, PointBalance, PointLot, Reservation
from tests import factories
from tests.factories import rewards as rf
from tests.rewards.invariants import assert_invariants

pytestmark = pytest.mark.django_db
STOCKHOLM = ZoneInfo("Europe/Stockholm")


def _available(member) -> int:
    return balance_snapshot(PointBalance.objects.filter(member=member).first())["available"]


def test_points_redeem_takes_available_points(member):
    # given 300 available points
    rf.earned(member, 300)
    # when 120 are redeemed
    result = points_redeem(member=member, points=120, idempotency_key="k1")
    # then 180 are left, and the entries add up
    assert result["balance"]["available"] == 180
    assert _available(member) == 180
    assert_invariants([member.pk])


def test_points_redeem_more_than_available_changes_nothing(member):
    rf.earned(member, 100)
    with pytest.raises(InsufficientPointsError):
        points_redeem(member=member, points=101, idempotency_key="k1")
    assert _available(member) == 100
    assert not LedgerEntry.objects.filter(kind="redeem").exists()
    # the key was not used up by the failure: the same key works once points suffice
    rf.earned(member, 1)
    assert points_redeem(member=member, points=101, idempotency_key="k1")["points"] == 101


def test_points_redeem_replay_returns_identical_response(member):
    rf.earned(member, 500)
    first = points_redeem(member=member, points=200, idempotency_key="same")
    rf.earned(member, 50)  # the balance moves on
    replay = points_redeem(member=member, points=200, idempotency_key="same")
    assert replay == first
    assert LedgerEntry.objects.filter(kind="redeem").count() == 1
    assert _available(member) == 350


def test_points_redeem_same_key_other_body_is_conflict(member):
    rf.earned(member, 500)
    points_redeem(member=member, points=200, idempotency_key="same")
    with pytest.raises(IdempotencyConflictError):
        points_redeem(member=member, points=201, idempotency_key="same")


@pytest.mark.parametrize("points", [0, -5, True])
def test_points_redeem_rejects_non_positive_points(member, points):
    with pytest.raises(ValidationError):
        points_redeem(member=member, points=points, idempotency_key="x")


def test_points_redeem_takes_oldest_lot_first(member):
    with time_machine.travel(datetime.datetime(2026, 1, 10, 12, tzinfo=STOCKHOLM), tick=False):
        old = rf.earned(member, 100)
    with time_machine.travel(datetime.datetime(2026, 3, 10, 12, tzinfo=STOCKHOLM), tick=False):
        new = rf.earned(member, 100)
        points_redeem(member=member, points=150, idempotency_key="k")
    assert PointLot.objects.get(entry=old).remaining == 0
    assert PointLot.objects.get(entry=new).remaining == 50


def test_ledger_entry_update_and_delete_refused_by_database(member):
    entry = rf.earned(member, 10)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.filter(pk=entry.pk).update(points=999)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM rewards_ledgerentry WHERE id = %s", [entry.pk])
    assert LedgerEntry.objects.get(pk=entry.pk).points == 10


def test_balance_constraint_refuses_negative_available(member):
    rf.earned(member, 10)
    with pytest.raises(IntegrityError), transaction.atomic():
        PointBalance.objects.filter(member=member).update(reserved=11)


def test_reservation_capture_fewer_points_releases_the_rest(member, store):
    rf.earned(member, 1000)
    reserved = points_reserve(member=member, points=400, idempotency_key="r1", store=store)
    assert reserved["balance"]["available"] == 600
    # reserved points cannot be spent elsewhere
    with pytest.raises(InsufficientPointsError):
        points_redeem(member=member, points=601, idempotency_key="x")
    result = reservation_capture(
        reservation_id=reserved["reservation_id"], points=250, idempotency_key="c1", store=store
    )
    assert result["balance"] == {"available": 750, "pending": 0, "reserved": 0, "posted": 750}
    reservation = Reservation.objects.get()
    assert (reservation.status, reservation.captured) == ("captured", 250)
    assert_invariants([member.pk])


def test_reservation_resolves_exactly_once(member, store):
    rf.earned(member, 100)
    r = points_reserve(member=member, points=100, idempotency_key="r1", store=store)
    reservation_release(reservation_id=r["reservation_id"], idempotency_key="rel", store=store)
    with pytest.raises(ReservationResolvedError):
        reservation_capture(
            reservation_id=r["reservation_id"], points=10, idempotency_key="cap", store=store
        )
    with pytest.raises(ReservationResolvedError):
        reservation_release(reservation_id=r["reservation_id"], idempotency_key="rel2", store=store)
    assert _available(member) == 100
    assert_invariants([member.pk])


def test_reservation_capture_more_than_reserved_refused(member, store):
    rf.earned(member, 100)
    r = points_reserve(member=member, points=50, idempotency_key="r1", store=store)
    with pytest.raises(CaptureExceedsReservationError):
        reservation_capture(
            reservation_id=r["reservation_id"], points=51, idempotency_key="c", store=store
        )


def test_reservation_of_another_store_is_not_found(member, store):
    # Like an unknown id (a 404): another store cannot tell reservation ids apart.
    other = factories.store(code="other")
    rf.earned(member, 100)
    r = points_reserve(member=member, points=50, idempotency_key="r1", store=store)
    with pytest.raises(UnknownReservationError):
        reservation_capture(
            reservation_id=r["reservation_id"], points=50, idempotency_key="c", store=other
        )
    assert Reservation.objects.get(pk=r["reservation_id"]).status == Reservation.Status.ACTIVE


def test_reservations_timeout_releases_and_capture_is_expired(member, store):
    start = datetime.datetime(2026, 5, 1, 12, tzinfo=STOCKHOLM)
    with time_machine.travel(start, tick=False):
        rf.earned(member, 100)
        r = points_reserve(
            member=member, points=80, idempotency_key="r1", store=store, timeout_seconds=60
        )
    with time_machine.travel(start + datetime.timedelta(seconds=61), tick=False):
        with pytest.raises(ReservationExpiredError):
            reservation_capture(
                reservation_id=r["reservation_id"], points=80, idempotency_key="c", store=store
            )
        assert reservations_timeout() == 1
        assert reservations_timeout() == 0
    assert Reservation.objects.get().status == "expired"
    assert _available(member) == 100
    assert_invariants([member.pk])


def test_points_adjust_requires_reason_and_is_audited(member, store):
    staff = factories.member_with_user(email="staff@example.se").user
    with pytest.raises(ValidationError):
        points_adjust(member=member, points=50, reason=" ", actor=staff, idempotency_key="a")
    entry = points_adjust(
        member=member, points=50, reason="Goodwill", actor=staff, idempotency_key="a"
    )
    assert (entry.kind, entry.actor, entry.reason) == ("adjust", staff, "Goodwill")
    with pytest.raises(InsufficientPointsError):
        points_adjust(member=member, points=-51, reason="x", actor=staff, idempotency_key="b")
    points_adjust(member=member, points=-20, reason="Error", actor=staff, idempotency_key="c")
    assert _available(member) == 30
    assert member.events.filter(kind="points_adjusted").count() == 2
    assert_invariants([member.pk])


def test_pending_points_become_available_after_the_window(member):
    start = datetime.datetime(2026, 6, 1, 12, tzinfo=STOCKHOLM)
    with time_machine.travel(start, tick=False):
        rf.earned(member, 70, pending_days=14)
        assert balance_snapshot(PointBalance.objects.get(member=member))["pending"] == 70
        with pytest.raises(InsufficientPointsError):
            points_redeem(member=member, points=1, idempotency_key="early")
    with time_machine.travel(start + datetime.timedelta(days=14, seconds=1), tick=False):
        # spending matures due lots under the lock, before the beat job runs
        points_redeem(member=member, points=10, idempotency_key="later")
        assert points_mature_due() == 0
    balance = PointBalance.objects.get(member=member)
    assert (balance.pending, balance.posted) == (0, 60)
    assert_invariants([member.pk])


def test_points_expire_due_is_fifo_and_idempotent(member):
    with time_machine.travel(datetime.datetime(2024, 1, 15, 12, tzinfo=STOCKHOLM), tick=False):
        old = rf.earned(member, 100)
    with time_machine.travel(datetime.datetime(2024, 8, 15, 12, tzinfo=STOCKHOLM), tick=False):
        new = rf.earned(member, 40)
        points_redeem(member=member, points=30, idempotency_key="spend")  # from `old`
    # 24 months after the first lot: only the old lot's 70 remaining points expire
    with time_machine.travel(datetime.datetime(2026, 1, 15, 0, 30, tzinfo=STOCKHOLM), tick=False):
        assert points_expire_due() == 70
        assert points_expire_due() == 0
    assert PointLot.objects.get(entry=old).remaining == 0
    assert PointLot.objects.get(entry=new).remaining == 40
    assert _available(member) == 40
    assert LedgerEntry.objects.filter(kind="expire").count() == 1
    assert_invariants([member.pk])


def test_points_expire_across_dst_change_twice_equals_once(member):
    # earned just before the spring DST change (last Sunday of March 2024, 02:00 -> 03:00)
    with time_machine.travel(datetime.datetime(2024, 3, 31, 1, 30, tzinfo=STOCKHOLM), tick=False):
        entry = rf.earned(member, 25)
    lot = PointLot.objects.get(entry=entry)
    assert lot.expires_at == datetime.datetime(2026, 3, 31, 0, 0, tzinfo=STOCKHOLM)
    # a minute before midnight Stockholm time (CEST, UTC+2): nothing expires yet
    with time_machine.travel(datetime.datetime(2026, 3, 30, 23, 59, tzinfo=STOCKHOLM), tick=False):
        assert points_expire_due() == 0
    with time_machine.travel(datetime.datetime(2026, 3, 31, 3, 30, tzinfo=STOCKHOLM), tick=False):
        assert points_expire_due() == 25
        assert points_expire_due() == 0
    assert _available(member) == 0
    assert_invariants([member.pk])


def test_points_expire_spares_reserved_points(member, store):
    with time_machine.travel(datetime.datetime(2024, 1, 15, 12, tzinfo=STOCKHOLM), tick=False):
        rf.earned(member, 100)
    with time_machine.travel(datetime.datetime(2026, 1, 14, 12, tzinfo=STOCKHOLM), tick=False):
        r = points_reserve(member=member, points=60, idempotency_key="r", store=store)
    with time_machine.travel(datetime.datetime(2026, 1, 15, 12, tzinfo=STOCKHOLM), tick=False):
        assert points_expire_due() == 40
        reservation_release(reservation_id=r["reservation_id"], idempotency_key="rel", store=store)
        assert points_expire_due() == 60
    assert_invariants([member.pk])


def test_lot_expiry_end_of_following_year(settings):
    settings.REWARDS_EXPIRY_MODE = "end_of_following_year"
    earned_at = datetime.datetime(2026, 3, 5, 10, tzinfo=STOCKHOLM)
    assert lot_expiry(earned_at) == datetime.datetime(2028, 1, 1, tzinfo=STOCKHOLM)
