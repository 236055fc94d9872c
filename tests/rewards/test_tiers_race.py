"""Tier changes under concurrency (real threads, PostgreSQL): one change, never two."""

from __future__ import annotations

import pytest

from rewards.loyalty import tiers
from rewards.models import MemberTier, TierChange
from tests import factories
from tests.factories import rewards as rf
from tests.rewards.test_vouchers_race import _all_at_once

pytestmark = [pytest.mark.race, pytest.mark.django_db(transaction=True)]


def test_tier_evaluate_first_tier_concurrently_records_one_change():
    # given a member without a tier who qualifies for Silver
    rf.ladder()
    member = factories.member_with_user()
    rf.earned(member, 1500)

    # when the nightly job and purchases evaluate them at the same moment
    outcomes = _all_at_once([(lambda: tiers.tier_evaluate(member_id=member.pk)) for _ in range(8)])

    # then exactly one change is recorded and the member is Silver
    assert [type(o) for o in outcomes if isinstance(o, Exception)] == []
    assert sum(isinstance(o, TierChange) for o in outcomes) == 1
    assert TierChange.objects.filter(member=member).count() == 1
    assert MemberTier.objects.get(member=member).tier.code == "silver"


def test_purchases_crossing_the_threshold_at_once_upgrade_once():
    # given a member 100 points below Silver and two tills recording purchases at once
    rf.ladder()
    rf.base_rule()
    store = factories.store()
    member = factories.member_with_user()
    rf.earned(member, 900)
    tiers.tiers_reevaluate()

    jobs = [
        (lambda n=n: rf.purchase(store=store, member=member, receipt_id=f"T{n}", lines=[rf.line()]))
        for n in range(6)
    ]
    outcomes = _all_at_once(jobs)

    # then every purchase is recorded and the upgrade to Silver happened once
    assert [o for o in outcomes if isinstance(o, Exception)] == []
    assert TierChange.objects.filter(member=member, to_tier__code="silver").count() == 1
    assert MemberTier.objects.get(member=member).tier.code == "silver"
