"""Webhook delivery with a real Celery worker (marker ``fault``).

1. The receiver is down (nothing listens on its port) for the first attempts and answers
   503 for a few more, then works: every event arrives, and every request of one event,
   retries included, carries the same ``webhook-id`` and body.
2. The worker is SIGKILLed in the middle of deliveries: after a new worker starts and beat's
   sweep runs, every event has arrived.

The worker runs with tiny retry delays, small batches and a 2 s lease (environment); the
test plays beat, sending the sweep every second.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction

from bench.fanout import worker_name, worker_start, worker_stop, worker_wait_ready
from config.celery import app
from consent.models import Purpose, WebhookDelivery
from consent.webhooks.endpoints import webhook_endpoint_create
from consent.webhooks.tasks import webhooks_sweep_task
from members.models import Member, OutboxEvent
from members.outbox import outbox_emit
from tests import factories
from tests.consent.webhook_receiver import Receiver
from tests.processes import test_database_url

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]


class Worker:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.env = dict(os.environ)
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "config.settings.test",
                "DATABASE_URL": test_database_url(),
                "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
                "CELERY_TASK_ALWAYS_EAGER": "false",
                "WEBHOOKS_RETRY_SCHEDULE": "0.3,0.3,0.5,0.5,1,1,1,1,1,1,1,1",
                "WEBHOOKS_RETRY_JITTER": "0",
                "WEBHOOKS_LEASE_SECONDS": "2",
                "WEBHOOKS_BATCH_SIZE": "10",
            }
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0

    def start(self) -> None:
        self.started += 1
        name = worker_name()
        self.process = worker_start(
            self.env, 2, log_path=self.tmp / f"worker-{self.started}.log", name=name
        )
        worker_wait_ready(app, name)

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None:
            worker_stop(self.process)


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    app.control.purge()
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    w = Worker(tmp_path)
    try:
        yield w
    finally:
        w.stop()
        app.conf.task_always_eager = eager
        app.control.purge()


def _endpoint(url: str) -> None:
    key, _plain = factories.api_key_with_secret(scopes=["points:read"])
    webhook_endpoint_create(
        url=url,
        event_types=["points.changed"],
        api_key=key,
        purpose=Purpose.objects.get(code="membership"),
        recipient="Webbutiken",
        reason_sv="visa dina poäng i kassan",
        reason_en="show your points at the till",
    )


def _emit(member: Member, count: int) -> set[str]:
    ids = set()
    for n in range(count):
        with transaction.atomic():
            ids.add(outbox_emit("points.changed", member=member, data={"points": n}).webhook_id)
    return ids


def _wait(condition: Callable[[], bool], timeout: float, beat: bool = True) -> None:
    deadline = time.monotonic() + timeout
    last_beat = 0.0
    while time.monotonic() < deadline:
        if condition():
            return
        if beat and time.monotonic() - last_beat > 1:
            webhooks_sweep_task.delay()
            last_beat = time.monotonic()
        time.sleep(0.1)
    raise AssertionError("timed out")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _by_id(requests: list[Any]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = defaultdict(list)
    for r in requests:
        found[json.loads(r.body)["id"]].append(r)
    return found


def test_a_receiver_down_at_first_gets_every_event_with_stable_ids(
    worker: Worker, member: Member
) -> None:
    port = _free_port()
    receiver = Receiver(fail_first=5)
    _endpoint(f"http://127.0.0.1:{port}/hooks")
    worker.start()
    expected = _emit(member, 12)
    # Nothing listens: the first attempts fail to connect.
    _wait(lambda: WebhookDelivery.objects.filter(attempts__gte=2).count() >= 12, 20, beat=False)
    receiver.start(port)
    try:
        _wait(lambda: set(receiver.ids()) >= expected, 25)
        by_id = _by_id(receiver.every_request)
        assert set(by_id) == expected
        assert len(receiver.every_request) > len(expected)  # 503s were retried
        for webhook_id, requests in by_id.items():
            assert {r.headers["webhook-id"] for r in requests} == {webhook_id}
            assert len({r.body for r in requests}) == 1
        # The batch's outcomes are written after its last request.
        _wait(lambda: WebhookDelivery.objects.filter(status="delivered").count() == 12, 10)
    finally:
        receiver.stop()


def test_a_worker_killed_in_the_middle_of_deliveries_loses_nothing(
    worker: Worker, member: Member
) -> None:
    receiver = Receiver(delay=0.03).start()
    try:
        _endpoint(receiver.url)
        expected = _emit(member, 150)
        worker.start()
        _wait(lambda: len(receiver.requests) >= 20, 20, beat=False)
        worker.kill()
        arrived_before = len(set(receiver.ids()))
        assert arrived_before < len(expected), "the worker finished before it was killed"
        assert WebhookDelivery.objects.filter(status="delivered").count() < len(expected)
        worker.start()
        _wait(lambda: set(receiver.ids()) >= expected, 40)
        assert OutboxEvent.objects.filter(type="points.changed").count() == 150
        _wait(lambda: WebhookDelivery.objects.filter(status="delivered").count() == 150, 10)
    finally:
        receiver.stop()
