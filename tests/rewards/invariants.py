"""The ledger invariants (docs/ledger.md), checked straight against the database: the check
itself is ``rewards.invariants`` (make bench-soak runs it too)."""

from __future__ import annotations

from collections.abc import Iterable

from rewards.invariants import ledger_violations


def assert_invariants(member_ids: Iterable[int]) -> None:
    problems = ledger_violations(member_ids=member_ids)
    assert not problems, problems
