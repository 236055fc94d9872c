"""The connection health check of config.db.postgresql (``CONN_HEALTH_CHECKS``, as in
production): a kept connection that is idle with a quiet socket is used without a
``SELECT 1``; one the server has ended is found and replaced before the request's first
statement, which then succeeds."""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, connections

pytestmark = pytest.mark.django_db


@pytest.fixture
def kept() -> Iterator[Any]:
    """A second connection to the test database, set up as production keeps one: kept
    between requests, with health checks."""
    settings = {**connection.settings_dict, "CONN_MAX_AGE": 60, "CONN_HEALTH_CHECKS": True}
    wrapper = connections["default"].__class__(settings, alias="health_probe")
    yield wrapper
    wrapper.close()


class Spy:
    """Counts Django's round-trip check (``is_usable``: ``SELECT 1``)."""

    def __init__(self, wrapper: Any) -> None:
        self.calls = 0
        self.original = wrapper.is_usable
        wrapper.is_usable = self

    def __call__(self) -> bool:
        self.calls += 1
        result: bool = self.original()
        return result


def request(wrapper: Any) -> int:
    """One request's worth of work: the end-of-request housekeeping Django runs between
    requests (``close_old_connections``), then a statement; the server process's id."""
    wrapper.close_if_unusable_or_obsolete()
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid: int = cursor.fetchone()[0]
    return pid


def readable(wrapper: Any, timeout: float = 5.0) -> None:
    poller = select.poll()
    poller.register(wrapper.connection.fileno(), select.POLLIN)
    assert poller.poll(int(timeout * 1000)), "the server did not end the connection"


def test_a_kept_healthy_connection_is_used_without_a_round_trip(kept: Any) -> None:
    first = request(kept)
    spy = Spy(kept)
    pids = {request(kept) for _ in range(5)}
    assert pids == {first}
    assert spy.calls == 0


def test_a_connection_the_server_ended_is_replaced_before_the_request_uses_it(kept: Any) -> None:
    first = request(kept)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [first])
        assert cursor.fetchone()[0] is True
    readable(kept)
    spy = Spy(kept)
    began = time.monotonic()
    second = request(kept)  # no error: the check found the ended connection first
    assert second != first
    assert spy.calls == 1
    assert time.monotonic() - began < 5
    assert request(kept) == second
    assert spy.calls == 1


def test_the_check_runs_once_per_request(kept: Any) -> None:
    request(kept)
    spy = Spy(kept)
    kept.close_if_unusable_or_obsolete()
    # Something waits on the socket (a notice the server sent while idle, here a
    # notification): the round-trip check decides, once, and the connection stays.
    kept.connection.execute("LISTEN kk_health_probe")
    other = connections["default"].__class__(connection.settings_dict, alias="health_notifier")
    try:
        with other.cursor() as cursor:  # autocommit: the notification goes at once
            cursor.execute("NOTIFY kk_health_probe")
    finally:
        other.close()
    readable(kept)
    with kept.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.execute("SELECT 2")
    assert spy.calls == 1
