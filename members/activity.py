"""The member timeline: record what a member did, and let other apps react after commit.

Lower apps never call higher ones. Instead every service that changes something a member
did calls :func:`activity_record` inside its transaction. Higher apps register consumers
(:func:`consumer_register`, from their ``AppConfig.ready``); each event is handed to each
interested consumer once, after commit, by a Celery task (event ids wait on a Redis list that
one task drains in batches, see ``_dispatch_later``), and a beat sweep re-dispatches any
event whose task was lost. A consumer's work and its "done" mark commit together, so a
redelivered event never acts twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from members.activity_kinds import Kind as Kind  # re-exported: the services name it from here
from members.enqueue import task_get
from members.models import ActivityEvent, EventConsumption, Member, Store, User
from members.outbox import outbox_from_timeline
from members.rows import RowInserter

logger = logging.getLogger(__name__)


Handler = Callable[[ActivityEvent], None]


@dataclass(frozen=True)
class Consumer:
    name: str
    kinds: frozenset[str]
    handler: Handler


_consumers: dict[str, Consumer] = {}


def consumer_register(*, name: str, kinds: Iterable[str], handler: Handler) -> None:
    """Register ``handler`` for events of ``kinds``. Call from ``AppConfig.ready``."""
    _consumers[name] = Consumer(name=name, kinds=frozenset(kinds), handler=handler)


def consumers_for(kind: str) -> list[Consumer]:
    return [c for c in _consumers.values() if kind in c.kinds]


# Every purchase appends an event: one INSERT written once per process (members.rows).
_EVENT_INSERT = RowInserter(ActivityEvent)


def activity_record(
    *,
    member: Member,
    kind: Kind | str,
    data: dict[str, Any] | None = None,
    source: str = "system",
    actor: User | None = None,
    store: Store | None = None,
) -> ActivityEvent:
    """Append one event to the member's timeline. Call inside the service's transaction."""
    event = _EVENT_INSERT.insert(
        ActivityEvent(
            member=member,
            kind=str(kind),
            data=data or {},
            source=source,
            actor=actor if actor is not None and actor.is_authenticated else None,
            store=store,
        )
    )
    activity_recorded(event_id=event.pk, kind=event.kind)
    # Its public event (webhooks, the pull feed), if the kind has one, in the same transaction;
    # none for history loaded with the dispatch off (activity_dispatch).
    if _dispatch_mode.get() != Dispatch.OFF:
        outbox_from_timeline(
            kind=event.kind,
            member=member,
            store=store,
            data=event.data,
            occurred_at=event.created_at,
        )
    return event


class Dispatch(StrEnum):
    """How recorded events reach their consumers (see :func:`activity_dispatch`)."""

    CELERY = "celery"
    INLINE = "inline"
    OFF = "off"


_dispatch_mode: ContextVar[Dispatch] = ContextVar("activity_dispatch", default=Dispatch.CELERY)


@contextmanager
def activity_dispatch(mode: Dispatch) -> Iterator[None]:
    """Choose how the events recorded inside the block reach their consumers.

    - ``CELERY`` (the default): after commit, through the broker; a worker consumes them.
    - ``INLINE``: after commit, in this process, before the service call returns. For
      loading data (the demo seed) that must not depend on a running worker, and whose
      consumers must act at the moment the event happened (the clock may be travelled).
    - ``OFF``: recorded on the timeline only; no consumer ever sees them (the beat sweep
      looks back one day, so use it for history older than that), and they have no public
      event (members.outbox). For loading old
      history whose consumers' effects (challenge progress, a trigger) are not wanted.

    The mode is read when an event is recorded, so a service called inside the block
    decides for each of its events then, whenever its transaction commits."""
    token = _dispatch_mode.set(mode)
    try:
        yield
    finally:
        _dispatch_mode.reset(token)


def activity_recorded(*, event_id: int, kind: str) -> None:
    """Hand an event to its consumers once the transaction commits. ``activity_record``
    calls it; a service that inserts its event with its own SQL (a purchase's single
    statement) calls it with the new id, inside the same transaction."""
    if not consumers_for(kind):
        return
    mode = _dispatch_mode.get()
    if mode == Dispatch.OFF:
        return
    if mode == Dispatch.INLINE:
        transaction.on_commit(lambda: activity_consume(event_id=event_id))
        return
    transaction.on_commit(lambda: _dispatch_later(event_id))


# --- dispatch: event ids on a Redis list, drained in batches ---------------------------------
# Publishing one Celery task per event costs every request a kombu message (the largest CPU
# item after the queries on a till's purchase). Instead the id goes on a list in the broker's
# Redis (one LPUSH); the push that finds the list empty also queues one drain task, which
# consumes ids in batches until the list is empty, so a busy till publishes almost no tasks
# and no wake-up is lost (a push onto an empty list always queues a drain). A drain task
# lost with its batch (worker killed) is covered by the beat sweep, like a lost task before.
# With eager Celery (tests) or a broker other than Redis each event still gets its own task.
#
# A drain works for at most DRAIN_SECONDS and then hands over to a fresh drain task when ids
# are still waiting: under a till's steady load the list may never run empty, and a drain
# that looped until it did would meet the task's soft time limit (CELERY_TASK_SOFT_TIME_LIMIT)
# and end with ids waiting and no drain queued; no push would queue one again (the list is
# not empty), so the consumers would stop for good (found by bench.mixed: 100 000 purchases
# waited, unconsumed). The beat sweep also queues a drain whenever ids are waiting.
PENDING_KEY = "members:activity:pending"
DRAIN_BATCH = 200
DRAIN_SECONDS = 60.0
_pending_clients: dict[str, Any] = {}


def _pending_client() -> Any | None:
    """The broker's Redis client, or None where each event gets its own task."""
    url = str(getattr(settings, "CELERY_BROKER_URL", "") or "")
    if settings.CELERY_TASK_ALWAYS_EAGER or not url.startswith(("redis://", "rediss://")):
        return None
    client = _pending_clients.get(url)
    if client is None:
        import redis

        client = _pending_clients[url] = redis.Redis.from_url(url)
    return client


def _dispatch_later(event_id: int) -> None:
    client = _pending_client()
    if client is None:
        task_get("members.tasks.activity_dispatch").delay(event_id)
        return
    if client.lpush(PENDING_KEY, event_id) == 1:
        task_get("members.tasks.activity_drain").delay()


def activity_drain(*, batch: int = DRAIN_BATCH, seconds: float = DRAIN_SECONDS) -> int:
    """Consume the event ids waiting on the pending list, oldest first, until it is empty or
    ``seconds`` have passed; then, if ids are still waiting, queue the next drain.

    Returns how many events were handed over. A consumer that fails leaves its event to the
    sweep (its claim was rolled back) and the drain goes on with the next one."""
    client = _pending_client()
    if client is None:
        return 0
    drained = 0
    deadline = time.monotonic() + seconds
    while True:
        ids = client.rpop(PENDING_KEY, batch)
        if not ids:
            return drained
        for raw in ids:
            try:
                activity_consume(event_id=int(raw))
            except Exception:
                logger.exception("activity consumer failed for event %s; the sweep retries", raw)
            drained += 1
        if time.monotonic() >= deadline:
            # An id pushed after this check finds the list empty and queues its own drain.
            if client.llen(PENDING_KEY):
                task_get("members.tasks.activity_drain").delay()
            return drained


def activity_consume(*, event_id: int) -> int:
    """Hand one event to every interested consumer that has not handled it yet.

    Returns how many consumers acted. Safe to call any number of times, concurrently.
    """
    event = ActivityEvent.objects.select_related("member").filter(pk=event_id).first()
    if event is None:
        return 0
    acted = 0
    for consumer in consumers_for(event.kind):
        with transaction.atomic():
            # The unique (consumer, event) row is claimed first: a concurrent duplicate
            # waits on it and then claims nothing, so only one of them runs the handler, and
            # the handler's writes commit together with the claim.
            if not _claim(consumer.name, event.pk):
                continue
            consumer.handler(event)
        acted += 1
    return acted


def _claim(consumer: str, event_id: int) -> bool:
    """Insert the (consumer, event) row unless it exists: one statement, where the ORM's
    ``create`` in a savepoint took three and about 0.6 ms of Python per consumer (a
    purchase has three consumers; docs/scaling.md)."""
    table = connection.ops.quote_name(EventConsumption._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (consumer, event_id, processed_at) "  # noqa: S608 (the model's table)
            "VALUES (%s, %s, %s) ON CONFLICT (consumer, event_id) DO NOTHING RETURNING id",
            [consumer, event_id, timezone.now()],
        )
        return cursor.fetchone() is not None


# An unhandled event older than this is taken as lost (with a killed drain's batch) when it
# is not on the pending list either, and is pushed again although other ids are waiting.
LOST_AFTER = timedelta(minutes=10)


def activity_sweep(*, within: timedelta = timedelta(days=1)) -> int:
    """Re-dispatch recent events some consumer has not handled (a lost task). Beat runs it.

    While ids wait on the pending list, the sweep queues a drain (one may have been lost) and
    pushes only the unhandled events older than ``LOST_AFTER`` that are not on the list
    (lost with a killed drain's batch): the others are mostly those waiting, and pushing them
    again would only make the backlog longer. So under a load that never lets the list run
    empty, a lost event waits at most ``LOST_AFTER`` and one sweep interval. An event being
    consumed just then may be pushed twice; consumers claim each event once."""
    client = _pending_client()
    since = timezone.now() - within
    if client is not None and client.llen(PENDING_KEY):
        task_get("members.tasks.activity_drain").delay()
        before = timezone.now() - LOST_AFTER
        candidates = _unhandled(since, before) if before > since else set()
        if not candidates:
            return 0
        waiting = {int(raw) for raw in client.lrange(PENDING_KEY, 0, -1)}
        lost = sorted(candidates - waiting)
        if lost:
            client.lpush(PENDING_KEY, *lost)
        return len(lost)
    redispatched = 0
    for event_id in sorted(_unhandled(since, None)):
        _dispatch_later(event_id)
        redispatched += 1
    return redispatched


def _unhandled(since: datetime, before: datetime | None) -> set[int]:
    """Ids of events created from ``since`` (and before ``before``) that some consumer
    interested in their kind has not handled."""
    ids: set[int] = set()
    for consumer in _consumers.values():
        events = ActivityEvent.objects.filter(created_at__gte=since, kind__in=consumer.kinds)
        if before is not None:
            events = events.filter(created_at__lt=before)
        ids.update(
            events.exclude(
                pk__in=EventConsumption.objects.filter(consumer=consumer.name).values("event_id")
            ).values_list("pk", flat=True)
        )
    return ids
