"""Referrals: both members are rewarded after the friend's first purchase, within the rule's
caps per period; a phone number, email address or payment identity is referred only once."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.utils import timezone

from members.activity import Kind, activity_consume
from members.models import ActivityEvent
from rewards.errors import (
    AlreadyReferredError,
    DuplicateIdentityError,
    ReferralTooLateError,
    SelfReferralError,
    UnknownReferralCodeError,
)
from rewards.loyalty import referrals
from rewards.models import EventRule, LedgerEntry, PointBalance, Referral, ReferralIdentity
from tests import factories
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db


@pytest.fixture
def rules():
    rf.base_rule(rate="0")  # purchases earn nothing: every point below is from a referral
    referrer = rf.event_rule(
        event=EventRule.Event.REFERRAL, points=200, cap=2, period="month", beneficiary="referrer"
    )
    referred = rf.event_rule(
        event=EventRule.Event.REFERRAL, points=100, cap=1, period="ever", beneficiary="referred"
    )
    return referrer, referred


def _points(member) -> int:
    balance = PointBalance.objects.filter(member=member).first()
    return (balance.posted + balance.pending) if balance else 0


def _consume_all(member) -> None:
    """Run the timeline consumers for the member's events, in order (as the worker would)."""
    done: set[int] = set()
    while True:
        events = ActivityEvent.objects.filter(member=member).exclude(pk__in=done).order_by("pk")
        if not events:
            return
        for event in events:
            activity_consume(event_id=event.pk)
            done.add(event.pk)


def _friend(phone: str = "", email: str | None = None):
    return factories.member_with_user(email=email, phone=phone)


def _first_purchase(store, friend) -> None:
    rf.purchase(store=store, member=friend)
    _consume_all(friend)


def test_referral_rewards_both_after_the_first_purchase_only(rules, store, member):
    # given a friend who joined with the member's code
    code = referrals.referral_code_for(member=member)
    assert referrals.referral_code_for(member=member) == code
    friend = _friend(phone="+46701110001")
    referral = referrals.referral_register(referred=friend, code=code.code.lower())
    assert referral.status == Referral.Status.PENDING
    assert _points(member) == _points(friend) == 0

    # when the friend makes their first purchase, and then a second
    _first_purchase(store, friend)
    _first_purchase(store, friend)

    # then both are rewarded, once
    assert _points(member) == 200
    assert _points(friend) == 100
    referral.refresh_from_db()
    assert referral.status == Referral.Status.COMPLETED
    assert referral.purchase_id is not None
    assert LedgerEntry.objects.filter(cause="rule", member=member).count() == 1


def test_referral_caps_per_period_for_the_referrer(rules, store, member):
    # given three friends referred in one month (the referrer's cap is 2 a month)
    code = referrals.referral_code_for(member=member).code
    start = datetime.datetime(2026, 6, 3, 10, 0, tzinfo=datetime.UTC)
    friends = [_friend(phone=f"+4670222000{n}") for n in range(4)]
    with time_machine.travel(start, tick=False):
        for friend in friends:
            friend.joined_at = timezone.now()
            friend.save(update_fields=["joined_at"])
            referrals.referral_register(referred=friend, code=code)
        # when three of them buy this month
        for friend in friends[:3]:
            _first_purchase(store, friend)
    # then the referrer got points for two; every friend got theirs
    assert _points(member) == 400
    assert [_points(f) for f in friends[:3]] == [100, 100, 100]

    # and next month the cap starts again
    with time_machine.travel(start + datetime.timedelta(days=30), tick=False):
        _first_purchase(store, friends[3])
    assert _points(member) == 600


def test_referral_same_phone_or_email_cannot_be_referred_twice(rules, member):
    code = referrals.referral_code_for(member=member).code
    other_referrer = factories.member_with_user()
    other_code = referrals.referral_code_for(member=other_referrer).code
    first = _friend(phone="070-333 00 01", email="Lisa+klubb@Example.se")
    referrals.referral_register(referred=first, code=code)
    assert ReferralIdentity.objects.filter(referral__referred=first).count() == 2

    # a new membership with the same phone number is refused, by any referrer
    same_phone = _friend(phone="+46703330001")
    with pytest.raises(DuplicateIdentityError):
        referrals.referral_register(referred=same_phone, code=other_code)
    # so is the same email address (case and "+tag" do not matter)
    first.user.email = "erased@erased.invalid"
    same_email = _friend(email="lisa@example.se")
    with pytest.raises(DuplicateIdentityError):
        referrals.referral_register(referred=same_email, code=code)
    # and the same payment identity
    card_friend = _friend()
    referrals.referral_register(referred=card_friend, code=code, payment_identity="tok_visa_42")
    card_again = _friend()
    with pytest.raises(DuplicateIdentityError):
        referrals.referral_register(referred=card_again, code=code, payment_identity="tok_visa_42")
    assert Referral.objects.count() == 2
    # the hashes are not the values
    assert not ReferralIdentity.objects.filter(digest__contains="46703330001").exists()


def test_referral_register_refusals(rules, store, member):
    code = referrals.referral_code_for(member=member).code
    with pytest.raises(SelfReferralError):
        referrals.referral_register(referred=member, code=code)
    with pytest.raises(UnknownReferralCodeError):
        referrals.referral_register(referred=_friend(), code="NOSUCH")
    # a friend who already bought something is too late
    buyer = _friend()
    rf.purchase(store=store, member=buyer)
    with pytest.raises(ReferralTooLateError):
        referrals.referral_register(referred=buyer, code=code)
    # a friend who joined long ago is too late
    old = _friend()
    old.joined_at = timezone.now() - datetime.timedelta(days=60)
    old.save(update_fields=["joined_at"])
    with pytest.raises(ReferralTooLateError):
        referrals.referral_register(referred=old, code=code)
    # a friend already referred cannot switch referrer
    friend = _friend()
    referrals.referral_register(referred=friend, code=code)
    other_code = referrals.referral_code_for(member=factories.member_with_user()).code
    with pytest.raises(AlreadyReferredError):
        referrals.referral_register(referred=friend, code=other_code)
    # a second membership of the referrer (their own phone) is not a friend
    member.phone = "+46704440001"
    member.save(update_fields=["phone"])
    twin = _friend(phone="0704440001")
    with pytest.raises(SelfReferralError):
        referrals.referral_register(referred=twin, code=code)
    assert Referral.objects.count() == 1


def test_referral_link_remembers_the_code_for_the_referral_page(rules, client, member):
    code = referrals.referral_code_for(member=member).code
    response = client.get(f"/tipsa/{code}/")
    assert response.status_code == 302
    friend = _friend()
    client.force_login(friend.user)
    page = client.get("/mina-sidor/tipsa/").content.decode()
    assert f'value="{code}"' in page
    client.post("/mina-sidor/tipsa/", {"code": code})
    assert Referral.objects.get(referred=friend).referrer == member


def test_referral_completed_event_is_on_the_friends_timeline(rules, store, member):
    friend = _friend()
    referrals.referral_register(
        referred=friend, code=referrals.referral_code_for(member=member).code
    )
    _first_purchase(store, friend)
    event = ActivityEvent.objects.get(member=friend, kind=Kind.REFERRAL_COMPLETED)
    assert event.data["referrer_id"] == member.pk
