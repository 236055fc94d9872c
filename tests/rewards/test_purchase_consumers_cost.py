"""What a purchase leaves for the workers: its ``purchased`` timeline event goes to three
consumers (challenges, referrals, offer redemptions), each claiming its row and acting in
its own transaction. That work costs about as much CPU as the till's request
(docs/scaling.md), so its statements are counted here: a new statement per consumer shows
up as a failure, not only as a slower benchmark."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.activity import Dispatch, Kind, activity_consume, activity_dispatch
from members.models import ActivityEvent, EventConsumption
from rewards.models import Challenge
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db

# Statements other than transaction control: reading the event with its member, and per
# consumer the claim (one INSERT ... ON CONFLICT) and its handler's reads and writes.
# (Inside the test's transaction each consumer's transaction is a savepoint, not counted.)
# Measured 5 Dec 2026: 11 (12 before the member came with the event; the savepoint that
# wrapped each claim, two round trips a consumer in a worker, is not counted here).
BUDGET = 11


def _statements(queries: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in queries.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))
    ]


def test_a_purchase_event_is_consumed_in_a_counted_number_of_statements(member, store):
    # given a base rule, an active purchase challenge and a purchase whose event waits
    rf.base_rule()
    Challenge.objects.create(
        code="tre-kop", kind=Challenge.Kind.PURCHASES, name_sv="Tre köp", name_en="Three", target=3
    )
    with activity_dispatch(Dispatch.OFF):
        rf.purchase(store=store, member=member, lines=[rf.line("SKU-1", 1, 12000)])
    event = ActivityEvent.objects.get(member=member, kind=Kind.PURCHASED)

    # when a worker consumes it
    with CaptureQueriesContext(connection) as queries:
        acted = activity_consume(event_id=event.pk)

    # then all three consumers acted, within the statement budget
    assert acted == 3
    assert EventConsumption.objects.filter(event=event).count() == 3
    statements = _statements(queries)
    assert len(statements) <= BUDGET, "\n".join(sql[:120] for sql in statements)

    # and a second delivery of the same event does nothing but find the claims taken
    with CaptureQueriesContext(connection) as again:
        assert activity_consume(event_id=event.pk) == 0
    assert len(_statements(again)) == 1 + 3  # the event, and each consumer's claim
