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


@pytest.fixture
def pending_list(settings, monkeypatch):
    """Tasks not eager, broker on the test Redis: ids go on the pending list; queued drain
    tasks are recorded instead of published."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    client = activity._pending_client()
    assert client is not None
    client.delete(activity.PENDING_KEY)
    drains: list[str] = []
    from members import tasks

    monkeypatch.setattr(tasks.activity_drain, "delay", lambda: drains.append("drain"))
    monkeypatch.setattr(
        tasks.activity_dispatch, "delay", lambda event_id: pytest.fail("one task per event")
    )
    yield drains
    client.delete(activity.PENDING_KEY)


@pytest.mark.django_db
def test_activity_record_queues_ids_and_one_drain_when_not_eager(
    member, register, pending_list, django_capture_on_commit_callbacks
):
    # Given a consumer and a real broker (not eager)
    recorder = register(Recorder())

    # When three events commit
    with django_capture_on_commit_callbacks(execute=True):
        events = [_event(member) for _ in range(3)]

    # Then nothing ran yet and only the first push (onto an empty list) queued a drain
    assert recorder.handled == []
    assert pending_list == ["drain"]

    # And the drain hands every event over once, oldest first, and leaves the list empty
    assert activity.activity_drain(batch=2) == 3
    assert recorder.handled == [event.pk for event in events]
    assert activity.activity_drain() == 0

    # And the next event after the list ran empty queues a new drain (no lost wake-up)
    with django_capture_on_commit_callbacks(execute=True):
        _event(member)
    assert pending_list == ["drain", "drain"]


@pytest.mark.django_db
def test_a_drain_that_runs_out_of_time_hands_over_to_the_next_drain(member, register, pending_list):
    # Given five waiting events (a till's steady load: the list never runs empty)
    recorder = register(Recorder())
    events = [_event(member) for _ in range(5)]
    client = activity._pending_client()
    client.lpush(activity.PENDING_KEY, *[event.pk for event in events])

    # When a drain with no time left consumes one batch of two
    assert activity.activity_drain(batch=2, seconds=0) == 2

    # Then it handled the oldest two, left three waiting and queued the next drain
    assert recorder.handled == [events[0].pk, events[1].pk]
    assert client.llen(activity.PENDING_KEY) == 3
    assert pending_list == ["drain"]

    # And a drain whose last batch empties the list queues none
    assert activity.activity_drain(batch=3, seconds=0) == 3
    assert recorder.handled == [event.pk for event in events]
    assert pending_list == ["drain"]


def test_a_drain_hands_over_long_before_the_tasks_soft_time_limit(settings):
    # (a drain still running at the soft limit would end with ids waiting and no drain queued)
    assert activity.DRAIN_SECONDS * 2 <= settings.CELERY_TASK_SOFT_TIME_LIMIT


@pytest.mark.django_db
def test_the_sweep_queues_a_drain_for_waiting_ids_and_pushes_nothing_again(
    member, register, pending_list
):
    # Given two unhandled events waiting on the list and no drain (it was lost)
    recorder = register(Recorder())
    events = [_event(member), _event(member)]
    client = activity._pending_client()
    client.lpush(activity.PENDING_KEY, *[event.pk for event in events])

    # When beat runs the sweep
    assert activity_sweep() == 0

    # Then a drain is queued and the waiting ids are not pushed a second time
    assert pending_list == ["drain"]
    assert client.llen(activity.PENDING_KEY) == 2
    assert recorder.handled == []

    # And once the list is empty, the sweep pushes what no consumer handled
    assert activity.activity_drain(batch=1, seconds=0) == 1  # (and it queues the next drain)
    client.delete(activity.PENDING_KEY)  # the second id was lost with a killed drain
    assert activity_sweep() == 1
    assert [int(raw) for raw in client.lrange(activity.PENDING_KEY, 0, -1)] == [events[1].pk]
    assert pending_list == ["drain", "drain", "drain"]


@pytest.mark.django_db
def test_activity_drain_goes_on_after_a_failing_consumer(member, register, pending_list):
    # Given two waiting events whose consumer fails on the first
    recorder = register(Recorder())
    first, second = _event(member), _event(member)
    client = activity._pending_client()
    client.lpush(activity.PENDING_KEY, first.pk, second.pk)
    failed = {first.pk}

    def flaky(event: ActivityEvent) -> None:
        if event.pk in failed:
            raise RuntimeError("consumer failed")
        recorder(event)

    activity.consumer_register(name=CONSUMER, kinds=(Kind.PROFILE_UPDATED,), handler=flaky)

    # When the drain runs
    drained = activity.activity_drain()

    # Then the second event was handled and the first is left unclaimed for the sweep
    assert drained == 2
    assert recorder.handled == [second.pk]
    assert not EventConsumption.objects.filter(event=first).exists()


@pytest.mark.django_db
def test_activity_dispatch_inline_consumes_after_commit_without_celery(
    member, register, monkeypatch, django_capture_on_commit_callbacks
):
    recorder = register(Recorder())
    queued: list[int] = []
    monkeypatch.setattr(activity, "_dispatch_later", queued.append)

    with (
        activity.activity_dispatch(activity.Dispatch.INLINE),
        django_capture_on_commit_callbacks(execute=False) as callbacks,
    ):
        event = _event(member)
    assert recorder.handled == []  # not before the commit

    for callback in callbacks:
        callback()
    assert recorder.handled == [event.pk]
    assert queued == []  # nothing went to the broker
    assert EventConsumption.objects.filter(consumer=CONSUMER, event=event).exists()


@pytest.mark.django_db
def test_activity_dispatch_off_records_the_event_for_nobody(
    member, register, monkeypatch, django_capture_on_commit_callbacks
):
    recorder = register(Recorder())
    queued: list[int] = []
    monkeypatch.setattr(activity, "_dispatch_later", queued.append)

    with (
        activity.activity_dispatch(activity.Dispatch.OFF),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        event = _event(member)

    assert callbacks == []
    assert ActivityEvent.objects.filter(pk=event.pk).exists()
    assert recorder.handled == []
    assert queued == []
    # outside the block the default is back: the next event goes through the broker
    with django_capture_on_commit_callbacks(execute=True):
        second = _event(member)
    assert queued == [second.pk]


@pytest.mark.django_db
def test_the_sweep_pushes_an_event_lost_long_ago_although_others_wait(
    member, register, pending_list
):
    # Given a till's steady load (ids always waiting on the list) and three unhandled events
    # older than LOST_AFTER: one lost with a killed drain (on the list no more), one still
    # waiting, and one new event not on the list (maybe being consumed right now)
    recorder = register(Recorder())
    lost, waiting, recent = _event(member), _event(member), _event(member)
    old = timezone.now() - activity.LOST_AFTER - timedelta(minutes=1)
    ActivityEvent.objects.filter(pk__in=[lost.pk, waiting.pk]).update(created_at=old)
    client = activity._pending_client()
    client.lpush(activity.PENDING_KEY, waiting.pk)

    # When beat runs the sweep
    assert activity_sweep() == 1

    # Then a drain is queued, the lost event is pushed once and nothing else a second time
    assert pending_list == ["drain"]
    assert sorted(int(raw) for raw in client.lrange(activity.PENDING_KEY, 0, -1)) == sorted(
        [lost.pk, waiting.pk]
    )
    assert recorder.handled == []

    # And a sweep while both still wait pushes nothing more
    assert activity_sweep() == 0
    assert client.llen(activity.PENDING_KEY) == 2

    # And the drain hands both over; the recent one is the empty list's sweep's to push
    assert activity.activity_drain() == 2
    assert sorted(recorder.handled) == sorted([lost.pk, waiting.pk])
    assert activity_sweep() == 1
    assert [int(raw) for raw in client.lrange(activity.PENDING_KEY, 0, -1)] == [recent.pk]
