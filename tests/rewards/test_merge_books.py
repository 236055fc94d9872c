"""A merge of two members and the books (issue 15, docs/ledger.md "Points and purchases in a
merge"): points move by transfer entries with their lots' dates, pending and available
apart; reservations, vouchers, purchases, challenges, referrals and the tier follow; the
ledger invariants hold for both members; campaigns' rows move."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from members.merging import member_merge
from members.models import Member
from rewards.errors import DuplicateReceiptConflictError, MemberMergedError
from rewards.ledger.expiry import points_expire_due
from rewards.ledger.points import points_redeem
from rewards.ledger.reservations import points_reserve, reservation_capture
from rewards.loyalty import catalogue
from rewards.loyalty.referrals import referral_code_for, referral_complete, referral_register
from rewards.merging import STAYS
from rewards.models import (
    Badge,
    Challenge,
    ChallengeProgress,
    CheckIn,
    LedgerEntry,
    MemberBadge,
    MemberTier,
    PointBalance,
    PointLot,
    Purchase,
    Referral,
    Reservation,
    Review,
    TierChange,
    Voucher,
)
from rewards.purchases.recording import purchase_record
from rewards.purchases.returns import purchase_return
from tests import factories
from tests.factories import rewards as rf
from tests.rewards.invariants import assert_invariants

pytestmark = pytest.mark.django_db
T0 = datetime.datetime(2026, 3, 2, 11, 0, tzinfo=datetime.UTC)


def _balance(member: Member) -> tuple[int, int, int]:
    balance = PointBalance.objects.get(member=member)
    return balance.pending, balance.posted, balance.reserved


def _entries(member: Member) -> list[tuple[object, ...]]:
    return list(
        LedgerEntry.objects.filter(member=member)
        .order_by("pk")
        .values_list("pk", "kind", "points", "delta_pending", "delta_posted", "delta_reserved")
    )


@pytest.fixture
def pair(db):
    survivor = factories.member_with_user(email="anna@example.se", first_name="Anna")
    merged = factories.member_with_user(email="anna.s@example.se", first_name="Anna")
    return survivor, merged


def test_merge_moves_every_open_lot_by_transfer_entries_keeping_its_dates(pair):
    survivor, merged = pair
    # given a survivor with 100 points, and a merged member with three lots: 300 earned last
    # spring (50 of them spent since), 200 earned a week ago, 150 still pending
    with time_machine.travel(T0 - datetime.timedelta(days=200), tick=False):
        old = rf.earned(merged, 300)
    with time_machine.travel(T0 - datetime.timedelta(days=7), tick=False):
        recent = rf.earned(merged, 200)
    with time_machine.travel(T0, tick=False):
        rf.earned(survivor, 100)
        pending = rf.earned(merged, 150, pending_days=14)
        points_redeem(member=merged, points=50, idempotency_key="spent-before")
        before = {lot.entry_id: lot for lot in PointLot.objects.filter(member=merged)}
        merged_entries = _entries(merged)

        # when they are merged
        audit = member_merge(survivor_id=survivor.pk, merged_id=merged.pk, reason="same person")

    # then the survivor has every point, pending apart from available, and the merged none
    assert _balance(survivor) == (150, 100 + 250 + 200, 0)
    assert _balance(merged) == (0, 0, 0)
    assert audit.moved["rewards.points_posted"] == 450
    assert audit.moved["rewards.points_pending"] == 150
    # each open lot came over as a new lot with its dates, made by a transfer entry
    for entry, remaining in ((old, 250), (recent, 200), (pending, 150)):
        source = before[entry.pk]
        moved = PointLot.objects.get(
            member=survivor, entry__kind=LedgerEntry.Kind.TRANSFER, entry__points=remaining
        )
        assert (moved.available_at, moved.matured, moved.expires_at) == (
            source.available_at,
            source.matured,
            source.expires_at,
        )
        assert moved.remaining == moved.amount == remaining
        assert moved.entry.cause == LedgerEntry.Cause.MERGE
        assert moved.entry.idempotency_key.startswith(f"merge:{merged.pk}:{survivor.pk}:lot:")
    assert not PointLot.objects.filter(member=merged, remaining__gt=0).exists()
    # never a rewritten entry: the merged member's entries are as they were, plus the outs
    after = _entries(merged)
    assert after[: len(merged_entries)] == merged_entries
    assert [row[1] for row in after[len(merged_entries) :]] == [LedgerEntry.Kind.TRANSFER] * 3
    assert_invariants([survivor.pk, merged.pk])

    # and the pending points mature on the survivor on their day, the old lot expires on its
    with time_machine.travel(T0 + datetime.timedelta(days=15), tick=False):
        points_redeem(member=survivor, points=1, idempotency_key="after-maturing")
        assert _balance(survivor) == (0, 100 + 250 + 200 + 150 - 1, 0)
    expires_at = before[old.pk].expires_at
    with time_machine.travel(expires_at + datetime.timedelta(hours=1), tick=False):
        points_expire_due()
    expired = LedgerEntry.objects.filter(member=survivor, kind=LedgerEntry.Kind.EXPIRE)
    assert expired.exists()
    assert_invariants([survivor.pk, merged.pk])


def test_merge_moves_an_active_reservation_that_the_till_captures_later(pair, store):
    survivor, merged = pair
    # given the merged member's 300 points, 120 of them reserved at a till
    rf.earned(merged, 300)
    rf.earned(survivor, 40)
    held = points_reserve(member=merged, points=120, idempotency_key="basket-1", store=store)

    # when they are merged
    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # then the reservation is the survivor's, with its points still held
    reservation = Reservation.objects.get(pk=held["reservation_id"])
    assert reservation.member_id == survivor.pk
    assert reservation.status == Reservation.Status.ACTIVE
    assert _balance(survivor) == (0, 340, 120)
    assert_invariants([survivor.pk, merged.pk])

    # and the till captures it later as usual, from the survivor's points
    result = reservation_capture(
        reservation_id=reservation.pk, points=100, idempotency_key="capture-1", store=store
    )
    assert result["status"] == Reservation.Status.CAPTURED
    assert _balance(survivor) == (0, 240, 0)
    assert_invariants([survivor.pk, merged.pk])


def test_merge_moves_purchases_and_a_return_afterwards_takes_back_the_moved_points(pair, store):
    survivor, merged = pair
    rf.base_rule()
    # given a purchase of the merged member (500 points, pending for the return window)
    bought = rf.purchase(store=store, member=merged, lines=[rf.line("SKU-M", 1, 50000)])

    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # then the purchase and its lines are the survivor's, its earn entry stays where it was
    purchase = Purchase.objects.get(pk=bought.purchase.pk)
    assert purchase.member_id == survivor.pk
    assert purchase.lines.count() == 1
    assert LedgerEntry.objects.get(purchase=purchase, kind="earn").member_id == merged.pk
    assert _balance(survivor) == (500, 0, 0)

    # and returning it takes the pending points back from the survivor
    ret, created = purchase_return(store=store, receipt_id=purchase.receipt_id, return_id="RET-1")
    assert created
    assert ret.points_reversed == 500
    assert _balance(survivor) == (0, 0, 0)
    assert_invariants([survivor.pk, merged.pk])


def test_a_tombstone_spends_nothing_and_its_purchases_are_the_survivors(pair, store):
    survivor, merged = pair
    rf.base_rule()
    rf.earned(merged, 200)
    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # a redemption for the merged member (identified before the merge) is refused cleanly
    with pytest.raises(MemberMergedError) as refused:
        points_redeem(member=merged, points=10, idempotency_key="late-redeem")
    assert refused.value.survivor_id == survivor.pk
    assert refused.value.details == {"membership_number": survivor.membership_number}
    # a purchase for it is recorded for the survivor, and points given to it are theirs
    bought = rf.purchase(store=store, member=merged, lines=[rf.line("SKU-L", 1, 10000)])
    assert bought.purchase.member_id == survivor.pk
    rf.earned(merged, 25)
    assert _balance(survivor) == (100, 225, 0)
    assert _balance(merged) == (0, 0, 0)
    assert_invariants([survivor.pk, merged.pk])


def test_a_tills_replay_of_a_purchase_recorded_before_the_merge_gets_the_purchase(pair, store):
    survivor, merged = pair
    rf.base_rule()
    request = {
        "store": store,
        "receipt_id": "R-BEFORE",
        "total_ore": 25000,
        "purchased_at": None,
        "lines": [rf.line("SKU-R", 1, 25000)],
    }
    first = purchase_record(member=merged, **request)
    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # the till sends the same request again, naming the merged member or (its card now
    # resolving) the survivor: the same purchase, not a conflict, and no second earning
    for member in (merged, survivor):
        again = purchase_record(member=member, **request)
        assert not again.created
        assert again.purchase.pk == first.purchase.pk
    # another body under the same receipt is still refused
    with pytest.raises(DuplicateReceiptConflictError):
        purchase_record(member=survivor, **(request | {"total_ore": 99}))
    assert LedgerEntry.objects.filter(kind="earn", purchase=first.purchase).count() == 1
    assert_invariants([survivor.pk, merged.pk])


def test_merge_vouchers_reviews_checkins_and_badges_are_the_survivors(pair, store):
    survivor, merged = pair
    rf.earned(merged, 500)
    voucher = rf.claim(merged, rf.reward(code="kaffe", points_cost=100))
    Review.objects.create(member=merged, kind=Review.Kind.REVIEW, text="Bra")
    CheckIn.objects.create(member=merged, store=store, idempotency_key="door-1")
    badge = Badge.objects.create(code="b1", name_sv="B", name_en="B")
    early = timezone.now() - datetime.timedelta(days=30)
    MemberBadge.objects.create(member=merged, badge=badge, awarded_at=early)
    MemberBadge.objects.create(member=survivor, badge=badge)

    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    assert Voucher.objects.get(pk=voucher.pk).member_id == survivor.pk
    assert Review.objects.filter(member=survivor).count() == 1
    assert CheckIn.objects.filter(member=survivor).count() == 1
    kept = MemberBadge.objects.get(member=survivor, badge=badge)
    assert kept.awarded_at == early
    assert not MemberBadge.objects.filter(member=merged).exists()
    # the survivor uses the voucher at the till
    used = catalogue.voucher_redeem(code=voucher.code, store=store, idempotency_key="use-1")
    assert used["status"] == Voucher.Status.USED
    assert_invariants([survivor.pk, merged.pk])


def test_merge_combines_challenge_progress_keeping_the_further_one(pair):
    survivor, merged = pair
    five = Challenge.objects.create(code="c5", kind="purchases", name_sv="5", name_en="5", target=5)
    other = Challenge.objects.create(code="c2", kind="stores", name_sv="2", name_en="2", target=2)
    done = timezone.now() - datetime.timedelta(days=2)
    ChallengeProgress.objects.create(member=survivor, challenge=five, progress=2)
    ChallengeProgress.objects.create(member=merged, challenge=five, progress=4)
    ChallengeProgress.objects.create(member=merged, challenge=other, progress=2, completed_at=done)

    audit = member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    progress = {row.challenge_id: row for row in ChallengeProgress.objects.filter(member=survivor)}
    assert progress[five.pk].progress == 4
    assert progress[other.pk].progress == 2
    assert progress[other.pk].completed_at == done
    assert not ChallengeProgress.objects.filter(member=merged).exists()
    assert audit.moved["rewards.ChallengeProgress.member"] == 2


def test_merge_referrals_move_and_a_member_never_refers_themselves(pair, store):
    survivor, merged = pair
    friend = factories.member_with_user(email="friend@example.se")
    # the merged member referred a friend, and (as if someone else) the survivor, who has a
    # code of their own
    merged_code = referral_code_for(member=merged).code
    survivor_code = referral_code_for(member=survivor).code
    referral_register(referred=friend, code=merged_code)
    between = referral_register(referred=survivor, code=merged_code)

    audit = member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # the friend is the survivor's referral now; the survivor keeps their own code
    assert Referral.objects.get(referred=friend).referrer_id == survivor.pk
    assert audit.moved["rewards.referrals_made"] == 1
    assert referral_code_for(member=survivor).code == survivor_code
    # the referral between the two never completes: nobody refers themselves
    bought = rf.purchase(store=store, member=survivor)
    assert referral_complete(referred=survivor, purchase_id=bought.purchase.pk) is None
    assert Referral.objects.get(pk=between.pk).status == Referral.Status.PENDING
    # and the code the merged member shared still works, for the survivor
    newcomer = factories.member_with_user(email="new@example.se")
    assert referral_register(referred=newcomer, code=merged_code).referrer_id == survivor.pk


def test_merge_two_silver_members_whose_points_together_make_gold(pair, store):
    survivor, merged = pair
    ladder = rf.ladder()
    rf.base_rule()
    # given two Silver members: 1,200 and 2,000 points earned this year (Gold is 3,000)
    rf.purchase(store=store, member=survivor, lines=[rf.line("SKU-A", 1, 120000)])
    rf.purchase(store=store, member=merged, lines=[rf.line("SKU-B", 1, 200000)])
    assert MemberTier.objects.get(member=survivor).tier == ladder["silver"]
    assert MemberTier.objects.get(member=merged).tier == ladder["silver"]

    # when they are merged
    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    # then the survivor is Gold at once, on what both earned; the tombstone holds no tier
    assert MemberTier.objects.get(member=survivor).tier == ladder["guld"]
    change = TierChange.objects.filter(member=survivor).first()
    assert change is not None
    assert change.to_tier == ladder["guld"]
    assert change.qualifying_value == 3200
    assert not MemberTier.objects.filter(member=merged).exists()
    assert_invariants([survivor.pk, merged.pk])


def test_merge_the_tier_comes_over_when_the_survivor_has_none(pair, store):
    survivor, merged = pair
    ladder = rf.ladder()
    rf.base_rule()
    rf.purchase(store=store, member=merged, lines=[rf.line("SKU-B", 1, 150000)])

    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    assert MemberTier.objects.get(member=survivor).tier == ladder["silver"]


def test_merge_leaves_on_the_tombstone_only_what_it_says(pair, store):
    """Every rewards relation to Member either has nothing left on the tombstone or is in
    ``rewards.merging.STAYS``."""
    survivor, merged = pair
    rf.base_rule()
    rf.earned(merged, 300)
    rf.purchase(store=store, member=merged)
    points_redeem(member=merged, points=10, idempotency_key="r")
    rf.claim(merged, rf.reward(code="x", points_cost=10))
    CheckIn.objects.create(member=merged, store=store, idempotency_key="door-2")

    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    from django.apps import apps

    left = []
    for model in apps.get_app_config("rewards").get_models():
        for field in model._meta.concrete_fields:
            if field.is_relation and field.related_model is Member:
                label = f"rewards.{model.__name__}.{field.name}"
                if model._default_manager.filter(**{field.name: merged}).exists():
                    left.append(label)
    assert set(left) <= set(STAYS), set(left) - set(STAYS)
    assert settings.REWARDS_PENDING_DAYS >= 0


def test_the_survivors_points_page_shows_what_the_merge_brought(pair, store):
    from django.test import Client

    survivor, merged = pair
    rf.earned(merged, 250)
    points_reserve(member=merged, points=40, idempotency_key="basket-p", store=store)
    member_merge(survivor_id=survivor.pk, merged_id=merged.pk)

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(survivor.user)
    html = client.get("/mina-sidor/poang/").content.decode()

    # the points moved in, and the points still held at a till, in brackets like a hold
    assert html.count("Moved by a merge") == 2
    assert "+250" in html
    assert "(40)" in html
