"""Challenge completion under concurrency: points and the badge once."""

from __future__ import annotations

import pytest

from rewards.loyalty import challenges
from rewards.models import Badge, Challenge, LedgerEntry, MemberBadge
from tests import factories
from tests.factories import rewards as rf
from tests.rewards.test_vouchers_race import _all_at_once

pytestmark = [pytest.mark.race, pytest.mark.django_db(transaction=True)]


def test_challenge_progress_update_concurrently_completes_once():
    # given a member who has reached "1 purchase" and eight events measured at once
    store = factories.store()
    member = factories.member_with_user()
    rf.purchase(store=store, member=member)
    badge = Badge.objects.create(code="first", name_sv="Första", name_en="First")
    challenge = Challenge.objects.create(
        code="first-buy",
        kind="purchases",
        name_sv="Köp",
        name_en="Buy",
        target=1,
        points=75,
        badge=badge,
    )
    challenge.starts_at = challenge.starts_at.replace(year=challenge.starts_at.year - 1)
    challenge.save(update_fields=["starts_at"])

    outcomes = _all_at_once(
        [
            (lambda: challenges.challenge_progress_update(member=member, challenge=challenge))
            for _ in range(8)
        ]
    )

    # then one completion: 75 points, one badge
    assert [o for o in outcomes if isinstance(o, Exception)] == []
    assert LedgerEntry.objects.filter(member=member, cause="rule", points=75).count() == 1
    assert MemberBadge.objects.filter(member=member).count() == 1
