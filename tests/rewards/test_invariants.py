"""rewards.invariants: the check the suite and make bench-soak rely on must see a break."""

from __future__ import annotations

import pytest
from django.db.models import F

from rewards.invariants import ledger_violations, purchases_credited_twice
from rewards.ledger.points import points_adjust
from rewards.models import PointBalance


@pytest.mark.django_db
def test_ledger_violations_is_empty_for_intact_books_and_names_a_broken_balance(member):
    # given a member whose points came through the ledger
    points_adjust(member=member, points=500, reason="test", actor=None, idempotency_key="inv-1")
    assert ledger_violations(member_ids=[member.pk]) == []
    assert purchases_credited_twice() == []
    # when the cached balance drifts from the entries (as a bug writing it directly would)
    PointBalance.objects.filter(member=member).update(posted=F("posted") + 7)
    # then I1, I6 and the lots all report it, naming the member
    problems = ledger_violations(member_ids=[member.pk])
    assert [p.split()[0] for p in problems] == ["I1", "I6", "lots"], problems
    assert all(f"member {member.pk}" in p for p in problems)
