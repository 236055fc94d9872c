"""The reward catalogue: claiming spends points, takes stock and issues a voucher, all or
nothing; tier-only rewards, limits, partner code pools, donations and invitations."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from members.activity import Kind
from members.models import ActivityEvent
from rewards.errors import (
    IdempotencyConflictError,
    InsufficientPointsError,
    MemberLimitReachedError,
    PartnerCodesInvalidError,
    RewardNotAvailableError,
    SoldOutError,
    TierRequiredError,
    VoucherNotCancellableError,
)
from rewards.loyalty import catalogue
from rewards.models import LedgerEntry, MemberTier, PartnerCode, PointBalance, Reward, Voucher
from tests import factories
from tests.factories import rewards as rf
from tests.rewards.invariants import assert_invariants

pytestmark = pytest.mark.django_db


def _available(member) -> int:
    return PointBalance.objects.get(member=member).available


def test_reward_claim_spends_points_takes_stock_and_issues_voucher(member):
    # given a member with 500 points and a 50 SEK voucher for 300 points, 5 in stock
    rf.earned(member, 500)
    reward = rf.reward(points_cost=300, stock=5, amount_off_ore=5000)

    # when they claim it
    voucher = rf.claim(member, reward, key="k1")

    # then points, stock and the voucher agree, with a long unguessable code and a QR code
    assert _available(member) == 200
    reward.refresh_from_db()
    assert reward.stock_left == 4
    assert voucher.status == Voucher.Status.ISSUED
    assert voucher.points_spent == 300
    assert len(voucher.code) == 16
    assert set(voucher.code) <= set(catalogue.CODE_ALPHABET)
    assert voucher.valid_until > timezone.now() + datetime.timedelta(days=29)
    svg = catalogue.voucher_qr_svg(voucher, title="QR")
    assert svg.startswith("<svg")
    assert "<title>QR</title>" in svg
    assert LedgerEntry.objects.filter(member=member, kind="redeem", points=300).count() == 1
    assert ActivityEvent.objects.filter(
        member=member, kind=Kind.REWARD_CLAIMED, data__voucher_id=voucher.pk
    ).exists()
    assert_invariants([member.pk])


def test_reward_claim_replayed_key_returns_the_same_voucher(member):
    # given a claimed reward
    rf.earned(member, 1000)
    reward = rf.reward(points_cost=300)
    first = rf.claim(member, reward, key="double-click")

    # when the same request arrives again (a double click)
    again = rf.claim(member, reward, key="double-click")

    # then nothing more is spent
    assert again.pk == first.pk
    assert _available(member) == 700
    # and the key used by another member is a conflict
    other = factories.member_with_user()
    with pytest.raises(IdempotencyConflictError):
        rf.claim(other, reward, key="double-click")


def test_reward_claim_insufficient_points_changes_nothing(member):
    # given a member with 100 points and a reward for 300
    rf.earned(member, 100)
    reward = rf.reward(points_cost=300, stock=5)

    # when they try to claim it, then they are refused
    with pytest.raises(InsufficientPointsError):
        rf.claim(member, reward)

    # and neither points, stock nor vouchers changed
    assert _available(member) == 100
    reward.refresh_from_db()
    assert reward.stock_left == 5
    assert not Voucher.objects.exists()


def test_reward_claim_sold_out_costs_no_points(member):
    # given the last unit claimed by someone else
    rf.earned(member, 1000)
    reward = rf.reward(points_cost=300, stock=1)
    other = factories.member_with_user()
    rf.earned(other, 1000)
    rf.claim(other, reward)

    # when the member claims, then it is sold out and their points are untouched
    with pytest.raises(SoldOutError):
        rf.claim(member, reward)
    assert _available(member) == 1000
    assert_invariants([member.pk, other.pk])


def test_reward_claim_stale_instance_still_cannot_oversell(member):
    # given a page that loaded the reward while one unit was left, then someone took it
    rf.earned(member, 1000)
    reward = rf.reward(points_cost=300, stock=1)
    stale = Reward.objects.get(pk=reward.pk)
    other = factories.member_with_user()
    rf.earned(other, 1000)
    rf.claim(other, reward)

    # when the member claims with the stale instance, then the conditional update refuses it
    with pytest.raises(SoldOutError):
        rf.claim(member, stale)
    assert _available(member) == 1000
    reward.refresh_from_db()
    assert reward.stock_left == 0


def test_reward_claim_per_member_limit(member):
    # given a reward limited to two per member
    rf.earned(member, 1000)
    reward = rf.reward(points_cost=100, per_member_limit=2)
    first = rf.claim(member, reward)
    rf.claim(member, reward)

    # when they claim a third, then they are refused and keep their points
    with pytest.raises(MemberLimitReachedError):
        rf.claim(member, reward)
    assert _available(member) == 800

    # and a cancelled voucher frees a place
    catalogue.voucher_cancel(voucher_id=first.pk, member=member)
    rf.claim(member, reward)
    assert Voucher.objects.filter(member=member, status="issued").count() == 2


def test_reward_claim_tier_only_reward(member):
    # given a Gold-only reward
    ladder = rf.ladder()
    rf.earned(member, 1000)
    reward = rf.reward(points_cost=100, min_tier=ladder["guld"])

    # when a Silver member claims it, then they are refused; they do not see it either
    MemberTier.objects.create(member=member, tier=ladder["silver"])
    with pytest.raises(TierRequiredError):
        rf.claim(member, reward)
    assert reward not in catalogue.rewards_for_member(member=member)

    # and as a Gold member they can
    MemberTier.objects.filter(member=member).update(tier=ladder["guld"])
    assert rf.claim(member, reward).status == "issued"
    assert reward in catalogue.rewards_for_member(member=member)


def test_reward_claim_outside_dates_or_inactive(member):
    rf.earned(member, 1000)
    later = rf.reward(starts_at=timezone.now() + datetime.timedelta(days=1))
    ended = rf.reward(ends_at=timezone.now() - datetime.timedelta(minutes=1))
    inactive = rf.reward(active=False)
    for reward in (later, ended, inactive):
        with pytest.raises(RewardNotAvailableError):
            rf.claim(member, reward)
    assert _available(member) == 1000


def test_rewards_for_member_filters_affordable_and_kind(member):
    # given rewards for 100, 400 and a free product for 200, and 250 points
    rf.earned(member, 250)
    cheap = rf.reward(code="cheap", points_cost=100)
    dear = rf.reward(code="dear", points_cost=400)
    product = rf.reward(code="socks", points_cost=200, kind=Reward.Kind.FREE_PRODUCT)

    # when filtered, then the lists are right
    assert list(catalogue.rewards_for_member(member=member)) == [cheap, product, dear]
    assert list(catalogue.rewards_for_member(member=member, affordable=True)) == [cheap, product]
    assert list(catalogue.rewards_for_member(member=member, kind="free_product")) == [product]


def test_partner_codes_upload_reports_and_claim_draws_one_code(member):
    # given a partner reward and an uploaded CSV with a header, a duplicate and a bad line
    reward = rf.reward(kind=Reward.Kind.PARTNER, points_cost=100, amount_off_ore=None)
    report = catalogue.partner_codes_upload(
        reward=reward, lines=["code", "BIO-AAA1", "BIO-AAA2", "BIO-AAA1", "bad code!", ""]
    )
    assert (report.added, report.duplicates, report.invalid) == (2, 1, [(5, "bad code!")])
    reward.refresh_from_db()
    assert reward.stock_left == 2
    # uploading the same codes again adds nothing
    again = catalogue.partner_codes_upload(reward=reward, lines=["BIO-AAA2", "BIO-AAA3"])
    assert (again.added, again.duplicates) == (1, 1)
    reward.refresh_from_db()
    assert reward.stock_left == 3

    # when a member claims it
    rf.earned(member, 500)
    voucher = rf.claim(member, reward)

    # then they get the first free code, which is now taken
    assert voucher.partner_code == "BIO-AAA1"
    assert PartnerCode.objects.get(code="BIO-AAA1").voucher == voucher
    assert PartnerCode.objects.filter(reward=reward, voucher__isnull=True).count() == 2
    # and a partner voucher cannot be cancelled (the code was shown)
    with pytest.raises(VoucherNotCancellableError):
        catalogue.voucher_cancel(voucher_id=voucher.pk, member=member)


def test_partner_codes_upload_only_invalid_lines_is_refused():
    reward = rf.reward(kind=Reward.Kind.PARTNER)
    with pytest.raises(PartnerCodesInvalidError):
        catalogue.partner_codes_upload(reward=reward, lines=["not valid", "x y"])
    assert not PartnerCode.objects.exists()


def test_reward_claim_donation_is_given_at_once(member):
    rf.earned(member, 500)
    reward = rf.reward(kind=Reward.Kind.DONATION, points_cost=200, charity="Stadsmissionen")
    voucher = rf.claim(member, reward)
    assert voucher.status == Voucher.Status.USED
    assert _available(member) == 300
    assert voucher not in catalogue.vouchers_usable(member=member)


def test_invitation_waitlist_gets_the_place_of_a_cancelled_ticket(
    member, django_capture_on_commit_callbacks
):
    # given an invitation with one place, taken by the member; a friend waits
    event_at = timezone.now() + datetime.timedelta(days=10)
    invitation = rf.reward(
        kind=Reward.Kind.INVITATION, points_cost=0, stock=1, event_starts_at=event_at
    )
    ticket = rf.claim(member, invitation)
    assert ticket.valid_until == event_at + datetime.timedelta(hours=12)
    friend = factories.member_with_user()
    with pytest.raises(SoldOutError):
        rf.claim(friend, invitation)
    catalogue.waitlist_join(member=friend, reward=invitation)

    # when the member cancels their ticket
    with django_capture_on_commit_callbacks(execute=True):
        catalogue.voucher_cancel(voucher_id=ticket.pk, member=member)

    # then the friend has the place, with a ticket of their own
    friend_ticket = Voucher.objects.get(member=friend, reward=invitation)
    assert friend_ticket.status == Voucher.Status.ISSUED
    invitation.refresh_from_db()
    assert invitation.stock_left == 0


def test_vouchers_liability_counts_outstanding_by_kind(member):
    rf.earned(member, 2000)
    amount = rf.reward(points_cost=300, amount_off_ore=5000)
    percent = rf.reward(points_cost=200, kind=Reward.Kind.DISCOUNT_PERCENT, percent_off=10)
    rf.claim(member, amount)
    rf.claim(member, amount)
    rf.claim(member, percent)
    liability = catalogue.vouchers_liability()
    assert liability["count"] == 3
    assert liability["points"] == 800
    assert liability["value_ore"] == 10000
