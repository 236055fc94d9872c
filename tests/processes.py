"""What tests that start their own processes (a Celery worker, beat, a server, redis-server,
`make run`) share: a free port, and the test database as a URL for the child's environment."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.db import connection


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_database_url() -> str:
    """The database this test runs on (pytest-django's ``test_<name>``), as ``DATABASE_URL``
    for a worker or server started by the test."""
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    return f"postgres://{user}{password}@{host}/{db['NAME']}"


test_database_url.__test__ = False  # type: ignore[attr-defined]  # not a test for pytest


@contextmanager
def bench_redis_url() -> Iterator[str]:
    """A Redis database of its own for a benchmark a test runs (its broker, cache, and the
    timeline's pending list), emptied before and after: sharing the test's would leave the
    benchmark's queued tasks and event ids for the next test's worker (a door test's
    check-in offer went missing after the check-in benchmark)."""
    from django.conf import settings

    base, _, number = settings.REDIS_URL.rpartition("/")
    url = f"{base}/{(int(number or 0) + 3) % 16}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


bench_redis_url.__test__ = False  # type: ignore[attr-defined]  # not a test for pytest
