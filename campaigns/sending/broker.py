"""The broker as the sending engine sees it (docs/campaigns.md, "After a broker restart").

- ``publish``: queue a task; when the broker cannot be reached, log and return False instead
  of raising, so a launch, a fan-out chunk or a sweep never fails because Redis is away. The
  caller marks its rows "not queued" and the sweeper queues them on its next run.
- ``epoch_start``: the broker epoch. A key in the broker's own Redis database holds the
  moment it was first seen missing. The broker Redis keeps nothing across a restart (no
  persistence), so neither does the key: after a restart the next sweep writes a new, later
  start, and every fan-out chunk and pending delivery queued before it was in the Redis that
  was lost and is queued again at once. A broker with persistence (AOF) keeps the key exactly
  when it keeps the queued tasks, so the epoch changes only when the tasks were lost.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

import redis
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.retry import Retry

logger = logging.getLogger(__name__)

EPOCH_KEY = "kundklubb:broker-epoch"
# What a publish raises when the broker is away: kombu wraps connection errors in its
# OperationalError; redis-py's and the socket's own errors are caught in case one slips by.
PUBLISH_ERRORS: tuple[type[BaseException], ...] = (
    KombuOperationalError,
    redis.exceptions.RedisError,
    OSError,
)
EPOCH_TIMEOUT_SECONDS = 2.0


def publish(task: Any, *args: Any) -> bool:
    """``task.delay(*args)``; False (logged) when the broker cannot be reached."""
    try:
        task.delay(*args)
    except PUBLISH_ERRORS as error:
        logger.warning("could not queue %s: %r; the sweeper queues it again", task.name, error)
        return False
    return True


def _broker_url() -> str:
    from config.celery import app

    if app.conf.task_always_eager:  # tasks run in the caller: nothing sits in a broker
        return ""
    url = str(app.conf.broker_url or "")
    # The filesystem transport (make run without Redis) keeps its queue on disk.
    return url if url.startswith(("redis://", "rediss://")) else ""


def epoch_start(now: datetime.datetime) -> datetime.datetime | None:
    """When the broker's current epoch started (written here if the key is missing), or None
    when the broker is no Redis or cannot be reached right now.

    The start is taken after a connection to the broker is made: a broker that restarted
    before that connection lost only tasks published before the start. ``now`` only serves
    when the clock is not needed (tests pass a fixed one)."""
    url = _broker_url()
    if not url:
        return None
    client = redis.Redis.from_url(
        url,
        socket_connect_timeout=EPOCH_TIMEOUT_SECONDS,
        socket_timeout=EPOCH_TIMEOUT_SECONDS,
        # One connection and no silent reconnect: a SET that reached a broker that restarted
        # after our clock was read would date the new epoch too early.
        retry=Retry(backoff=redis.backoff.NoBackoff(), retries=0),
        single_connection_client=True,
    )
    try:
        client.ping()
        start = max(now, datetime.datetime.now(tz=datetime.UTC))
        client.set(EPOCH_KEY, start.isoformat(), nx=True)
        value = client.get(EPOCH_KEY)
    except redis.exceptions.RedisError as error:
        logger.warning("broker epoch: the broker cannot be reached: %r", error)
        return None
    finally:
        client.close()
    if not value:
        return None
    try:
        text = value.decode() if isinstance(value, bytes) else str(value)
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        logger.warning("broker epoch: unreadable value %r", value)
        return None
