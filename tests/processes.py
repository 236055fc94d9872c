"""What tests that start their own processes (a Celery worker, beat, a server, redis-server,
`make run`) share: a free port, and the test database as a URL for the child's environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import redis
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


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


def bench_database_url(suffix: str) -> str:
    """A database of a benchmark's own beside the test database (``<test db>_<suffix>``),
    which the benchmark creates and migrates; ``bench_run`` drops it afterwards."""
    return f"{test_database_url()}_{suffix}"


def bench_run(
    module: str, env: dict[str, str], *, database_url: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """``python -m <module>`` from the project root with ``env`` added to this environment;
    the benchmark's database (``database_url``) is dropped afterwards, whatever happened."""
    try:
        return subprocess.run(
            [sys.executable, "-m", module],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    finally:
        base, _, name = database_url.rpartition("/")
        with psycopg.connect(
            base.replace("postgres://", "postgresql://", 1) + "/postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
