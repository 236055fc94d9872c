"""Referrals under concurrency (real threads, PostgreSQL)."""

from __future__ import annotations

import pytest

from rewards.errors import DuplicateIdentityError
from rewards.loyalty import referrals
from rewards.models import Referral
from tests import factories
from tests.rewards.test_vouchers_race import _all_at_once

pytestmark = [pytest.mark.race, pytest.mark.django_db(transaction=True)]


def test_referral_register_same_phone_at_once_only_one():
    # given six new memberships with one phone number, each entering a different code
    referrers = [factories.member_with_user() for _ in range(6)]
    codes = [referrals.referral_code_for(member=m).code for m in referrers]
    friends = [factories.member_with_user(phone="+46705550001") for _ in range(6)]

    outcomes = _all_at_once(
        [
            (lambda f=f, c=c: referrals.referral_register(referred=f, code=c))
            for f, c in zip(friends, codes, strict=True)
        ]
    )

    # then exactly one referral; the others are refused as already referred
    assert sum(isinstance(o, Referral) for o in outcomes) == 1
    assert sum(isinstance(o, DuplicateIdentityError) for o in outcomes) == 5
    assert Referral.objects.count() == 1
