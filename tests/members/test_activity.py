"""The member timeline: each consumer handles each event once, after commit, even when racing."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from members import activity
from members.activity import Kind, activity_consume, activity_record, activity_sweep
from members.models import ActivityEvent, EventConsumption
from tests import factories

CONSUMER = "tests.recorder"


class Recorder:
    def __init__(self, *, delay: float = 0.0, fail: bool = False) -> None:
        self.handled: list[int] = []
        self.delay = delay
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, event: ActivityEvent) -> None:
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("consumer failed")
        with self._lock:
            self.handled.append(event.pk)


@pytest.fixture
def register(monkeypatch):
    """Register a recording consumer, alone: other apps' consumers are set aside meanwhile."""
    monkeypatch.setattr(activity, "_consumers", {})

    def _register(recorder: Recorder, kinds=(Kind.PROFILE_UPDATED,)) -> Recorder:
        activity.consumer_register(name=CONSUMER, kinds=kinds, handler=recorder)
        return recorder

    return _register


def _event(member) -> ActivityEvent:
    with transaction.atomic():
        return activity_record(member=member, kind=Kind.PROFILE_UPDATED, data={"fields": []})


@pytest.mark.django_db
def test_activity_record_dispatches_after_commit_only(
    member, register, django_capture_on_commit_callbacks
):
    recorder = register(Recorder())

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = _event(member)
    assert recorder.handled == []

    for callback in callbacks:
        callback()  # eager Celery: activity_dispatch runs here
    assert recorder.handled == [event.pk]


@pytest.mark.django_db
def test_activity_consume_twice_acts_once(member, register):
    event = _event(member)
    recorder = register(Recorder())

    first = activity_consume(event_id=event.pk)
    second = activity_consume(event_id=event.pk)

    assert (first, second) == (1, 0)
    assert recorder.handled == [event.pk]
    assert EventConsumption.objects.filter(consumer=CONSUMER, event=event).count() == 1


@pytest.mark.django_db
def test_activity_consume_ignores_other_kinds_and_missing_events(member, register):
    recorder = register(Recorder(), kinds=(Kind.PURCHASED,))
    event = _event(member)

    assert activity_consume(event_id=event.pk) == 0
    assert activity_consume(event_id=10**9) == 0
    assert recorder.handled == []


@pytest.mark.django_db
def test_failed_consumer_releases_its_claim_and_retries(member, register):
    event = _event(member)
    recorder = register(Recorder(fail=True))

    with pytest.raises(RuntimeError):
        activity_consume(event_id=event.pk)
    assert not EventConsumption.objects.filter(consumer=CONSUMER).exists()

    recorder.fail = False
    assert activity_consume(event_id=event.pk) == 1
    assert recorder.handled == [event.pk]


@pytest.mark.race
@pytest.mark.django_db(transaction=True)
def test_activity_consume_concurrently_acts_once(register):
    # Given an event and a slow consumer (to widen the window for the race)
    member = factories.member_with_user()
    event = _event(member)
    recorder = register(Recorder(delay=0.3))
    workers = 4
    barrier = threading.Barrier(workers)
    results: list[int] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            barrier.wait()
            results.append(activity_consume(event_id=event.pk))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    # When the same event is delivered to four workers at once (a redelivered task)
    threads = [threading.Thread(target=deliver) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then exactly one of them ran the handler
    assert errors == []
    assert sorted(results) == [0, 0, 0, 1]
    assert recorder.handled == [event.pk]
    assert EventConsumption.objects.filter(consumer=CONSUMER, event=event).count() == 1


@pytest.mark.django_db
def test_activity_sweep_redispatches_a_missed_event(member, register):
    # Given an event whose dispatch task was lost (the on-commit callback never ran)
    recorder = register(Recorder())
    event = _event(member)
    assert recorder.handled == []

    # When beat runs the sweep (eager Celery runs the re-dispatched task at once)
    redispatched = activity_sweep()

    # Then the consumer handled it, and a second sweep finds nothing left to do
    assert redispatched == 1
    assert recorder.handled == [event.pk]
    assert activity_sweep() == 0


@pytest.mark.django_db
def test_activity_sweep_leaves_old_events_alone(member, register):
    recorder = register(Recorder())
    event = _event(member)
    ActivityEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(days=3))

    assert activity_sweep(within=timedelta(days=1)) == 0
    assert recorder.handled == []
