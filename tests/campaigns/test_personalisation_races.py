"""Concurrency with real threads on PostgreSQL: two nightly runs at once, and a withdrawal
racing a run, never fail and never leave a withdrawn member with stored recommendations."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from campaigns.models import MemberRecommendation, ProductAffinity
from campaigns.personalisation.affinities import affinities_compute
from campaigns.personalisation.recommendations import (
    recommendations_compute,
    recommendations_on_withdrawal,
)
from members.models import ActivityEvent
from tests import factories
from tests.factories import consent as cf
from tests.factories import rewards as rf

pytestmark = [pytest.mark.race, pytest.mark.django_db(transaction=True)]


def _together(jobs: list[Callable[[], Any]]) -> None:
    """Run each job on its own thread, released together; re-raise the first error."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=10)
            job()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]


@pytest.fixture
def club():
    """30 consenting members; most bought jeans and a shirt, a few socks."""
    rf.base_rule()
    store = factories.store(code="race")
    members = []
    for i in range(30):
        member = factories.member_with_user()
        cf.granted(member, "profiling")
        lines = [rf.line(sku="JEANS", name="Jeans", category="byxor")]
        if i % 3:
            lines.append(rf.line(sku="SHIRT", name="Skjorta", category="skjortor"))
        if i % 5 == 0:
            lines = [rf.line(sku="SOCKS", name="Strumpor", category="strumpor")]
        rf.purchase(store=store, member=member, lines=lines)
        members.append(member)
    return members


def test_affinities_compute_twice_at_once_leaves_one_consistent_set(club):
    _together([affinities_compute, affinities_compute, affinities_compute])

    rows = list(ProductAffinity.objects.values_list("basis", "product_a", "product_b"))
    assert rows
    assert len(rows) == len(set(rows))
    expected = len(rows)
    affinities_compute()
    assert ProductAffinity.objects.count() == expected


@pytest.mark.parametrize("chunk_size", [4, 2000])
def test_recommendations_compute_twice_at_once_never_fails(club, settings, chunk_size):
    settings.PERSONALISATION_CHUNK_SIZE = chunk_size
    affinities_compute()

    _together([recommendations_compute, recommendations_compute, recommendations_compute])

    per_member = {m.pk: MemberRecommendation.objects.filter(member=m).count() for m in club}
    assert set(per_member.values()) <= {0, 1, 2, 3, 4, 5}
    ranks = list(MemberRecommendation.objects.values_list("member_id", "rank"))
    assert len(ranks) == len(set(ranks))


def test_withdrawal_racing_a_run_leaves_no_rows_for_the_withdrawn(club, settings):
    settings.PERSONALISATION_CHUNK_SIZE = 3
    affinities_compute()
    recommendations_compute()
    leaving = club[1:30:3]
    assert MemberRecommendation.objects.filter(member__in=leaving).exists()
    for member in leaving:
        cf.withdrawn(member, "profiling")  # the consumer's task is not run yet

    def consume_all() -> None:
        for event in ActivityEvent.objects.filter(
            kind="consent_withdrawn", member__in=leaving
        ).order_by("pk"):
            recommendations_on_withdrawal(event)

    _together([recommendations_compute, consume_all])

    assert not MemberRecommendation.objects.filter(member__in=leaving).exists()
    assert MemberRecommendation.objects.exclude(member__in=leaving).exists()


def test_a_nightly_chunk_and_an_erasure_holding_its_member_never_deadlock(club):
    """Erasure holds the member's row FOR UPDATE, then erases the recommendations (table
    lock). A nightly chunk that took the table lock first would wait for the member row at
    commit (its foreign-key check): a deadlock. Found by the soak benchmark."""
    from campaigns.personalisation.recommendations import recommendations_erase
    from members.models import Member

    affinities_compute()
    erased = club[0]
    holding = threading.Event()
    errors: list[BaseException] = []

    def erasure() -> None:
        try:
            with transaction.atomic():
                member = Member.objects.select_for_update().get(pk=erased.pk)
                holding.set()
                _wait_for_a_lock_wait()
                recommendations_erase(member=member)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def nightly() -> None:
        try:
            assert holding.wait(timeout=10)
            recommendations_compute()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=erasure), threading.Thread(target=nightly)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert MemberRecommendation.objects.filter(member_id=club[1].pk).exists()


def _wait_for_a_lock_wait() -> None:
    """Until another session of this database waits for a lock (the nightly chunk)."""
    deadline = time.monotonic() + 20
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            # Inside a transaction pg_stat_activity is read once and cached; read anew.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError("the nightly run never waited for the erased member's row")
