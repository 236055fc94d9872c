"""Redis, the Celery broker, stopped and restarted in the middle of a 10 000-member campaign
(issue 12): before the fan-out, during the fan-out and during sending.

A private ``redis-server`` on a free port (no persistence, like the broker after a restart:
every queued task is gone) is the broker of a real Celery worker and a real beat
(django-celery-beat's DatabaseScheduler, the production defaults: sweep and due-campaign
start every CAMPAIGNS_SWEEP_SECONDS = 15 s, stuck limit 360 s). The test kills that Redis with
SIGKILL, keeps it down 20 s (longer than beat's interval: beat meets the outage) and starts
it again on the same port; nothing else steps in. Then every delivery ends sent or
suppressed, the provider was called once per sent delivery, and the campaign is done well
within two minutes of Redis answering again: the sweeper re-queues what the restart lost
from the database (the broker epoch, docs/campaigns.md "After a broker restart"), without
waiting for the 360 s stuck limit.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from django.db import connection, transaction
from django.db.models import Count

from bench.fanout import seed_members, worker_name
from campaigns.authoring import campaign_launch
from campaigns.models import Campaign, ContactBudget, Delivery, FanoutChunk, ProviderCall
from config.celery import app
from tests.factories import campaigns as cf
from tests.processes import free_port, test_database_url

ROOT = Path(__file__).resolve().parents[2]
MEMBERS = 10_000
FANOUT_CHUNK = 250  # 40 chunks: a fan-out long enough to stop Redis in the middle of it
SEND_BATCH = 200
# Longer than beat's 15 s: beat tries (and fails) to send the sweep while Redis is away.
DOWN_SECONDS = 20
RECOVERY_LIMIT_SECONDS = 120  # the bound: done within 2 minutes of Redis returning


class PrivateRedis:
    """A ``redis-server`` this test owns: started, killed and started again on one port."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        """Start it and return the moment it answers (time.monotonic())."""
        log = open(self.log_path, "ab")  # noqa: SIM115 - the server keeps it
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return time.monotonic()
            except redis.exceptions.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("the private redis-server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
        self.process = None


def _env(broker_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": test_database_url(),
            "CELERY_BROKER_URL": broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CAMPAIGNS_SEND_BATCH": str(SEND_BATCH),
            "CAMPAIGNS_FANOUT_CHUNK": str(FANOUT_CHUNK),
            # Production's schedule and stuck limit, on purpose: recovery must not come from
            # a short stuck limit.
            "CAMPAIGNS_SWEEP_SECONDS": "15",
            "CAMPAIGNS_STUCK_SECONDS": "360",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def _celery(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115 - the child keeps it
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "celery"), "-A", "config", *args],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log,
        stderr=log,
    )


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    process.wait()


@contextmanager
def _test_process_broker(url: str) -> Iterator[None]:
    """This process (launch, control ping) talks to the private broker, not to eager mode."""
    saved = app.conf.broker_url, app.conf.task_always_eager
    app.conf.broker_url = url
    app.conf.task_always_eager = False
    app._pool = None
    app.amqp._producer_pool = None
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.task_always_eager = saved
        app._pool = None
        app.amqp._producer_pool = None


def _final() -> int:
    return Delivery.objects.filter(status__in=["sent", "suppressed"]).count()


def _campaign_done(campaign: Campaign, *processes: subprocess.Popen[bytes]) -> bool:
    """The campaign is done; a worker or beat that exited fails at once instead of after the
    whole recovery limit."""
    for process in processes:
        if process.poll() is not None:
            raise AssertionError(f"{process.args[3]} exited with {process.returncode}")
    return Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.DONE


def _diagnosis(campaign: Campaign, tmp_path: Path) -> str:
    """What CI prints when recovery fails: the database's view and the processes' logs."""
    deliveries = dict(
        Delivery.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    chunks = FanoutChunk.objects.filter(campaign=campaign)
    lines = [
        f"campaign status: {Campaign.objects.get(pk=campaign.pk).status}",
        f"deliveries: {deliveries}; not queued: "
        f"{Delivery.objects.filter(status='pending', queued_at__isnull=True).count()}",
        f"chunks: {chunks.count()}, done {chunks.filter(done_at__isnull=False).count()}",
    ]
    for name in ("worker.log", "beat.log"):
        text = (tmp_path / name).read_text(errors="replace").splitlines()
        notable = [line for line in text if re.search(r"ERROR|CRITICAL|Traceback|sweep", line)]
        lines += [f"--- {name}: notable lines (last 30)", *notable[-30:]]
        lines += [f"--- {name}: last 40 lines", *text[-40:]]
    return "\n".join(lines)


def _wait(condition, timeout: float, what: str, poll: float = 0.01) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.fault
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("phase", ["before_fanout", "during_fanout", "during_sending"])
def test_campaign_finishes_soon_after_a_broker_restart_without_loss_or_duplicates(
    phase: str, tmp_path: Path
) -> None:
    # given 10 000 members, nine in ten with consent to email offers (bulk SQL: seconds)
    with transaction.atomic(), connection.cursor() as cursor:
        seed_members(cursor, count=MEMBERS, prefix="R", consent_every=1)
        cursor.execute("DELETE FROM consent_consentstate WHERE member_id %% %s = 0", [10])
    campaign = cf.campaign(channels=["test"], holdout_percent=0, name=f"Broker restart {phase}")
    broker = PrivateRedis(free_port(), tmp_path / "redis.log")
    broker.start()
    env = _env(broker.url)
    name = worker_name()
    worker = beat = None
    print(f"\n[{phase}] logs in {tmp_path}")
    try:
        worker = _celery(
            [
                "worker",
                "-P",
                "prefork",
                "-c",
                "2",
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                name,
            ],
            env,
            tmp_path / "worker.log",
        )
        beat = _celery(
            [
                "beat",
                "-l",
                "INFO",
                "--scheduler",
                "django_celery_beat.schedulers:DatabaseScheduler",
                "--pidfile",
                str(tmp_path / "beat.pid"),
            ],
            env,
            tmp_path / "beat.log",
        )
        with _test_process_broker(broker.url):
            _wait(lambda: app.control.ping(destination=[name], timeout=0.5), 60, "the worker")

            # when Redis is killed at the phase's moment and started again DOWN_SECONDS later
            if phase == "before_fanout":
                # The launch's campaign_start never reaches a broker (as if Redis lost it): the
                # launch still succeeds, the campaign waits "scheduled" and due in the database.
                broker.kill()
                campaign_launch(campaign=campaign, actor=None)
                assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.SCHEDULED
            else:
                campaign_launch(campaign=campaign, actor=None)
                chunks = FanoutChunk.objects.filter(campaign=campaign)
                if phase == "during_fanout":
                    _wait(lambda: chunks.filter(done_at__isnull=False).count() >= 2, 60, "fan-out")
                else:
                    _wait(lambda: _final() >= MEMBERS * 0.3, 90, "sending", poll=0.05)
                broker.kill()
            killed_at = time.monotonic()
            state = {
                "chunks_done": FanoutChunk.objects.filter(done_at__isnull=False).count(),
                "chunks": FanoutChunk.objects.count(),
                "final": _final(),
            }
            time.sleep(DOWN_SECONDS)
            if phase == "during_fanout":
                # the fan-out was really cut: chunks were still waiting in the lost broker
                assert FanoutChunk.objects.filter(done_at__isnull=True).exists()
            if phase == "during_sending":
                assert _final() < MEMBERS
            returned_at = broker.start()
            log_mark = (tmp_path / "worker.log").stat().st_size
            try:
                _wait(
                    lambda: _campaign_done(campaign, worker, beat),
                    RECOVERY_LIMIT_SECONDS + 30,
                    "the campaign to finish",
                    poll=0.1,
                )
            except AssertionError as failure:
                raise AssertionError(f"{failure}\n{_diagnosis(campaign, tmp_path)}") from None
            done_at = time.monotonic()
            # beat kept scheduling after the restart (the worker, alive, ran what it sent)
            assert worker.poll() is None
            assert beat.poll() is None
    finally:
        _stop(beat)
        _stop(worker)
        broker.kill()

    recovery = done_at - returned_at
    print(
        f"[{phase}] at the kill: {state}; Redis down {returned_at - killed_at:.1f} s; "
        f"done {recovery:.1f} s after Redis returned"
    )
    # then the campaign was done within two minutes of Redis returning
    assert recovery < RECOVERY_LIMIT_SECONDS
    # and every delivery is sent or suppressed, none lost, none sent twice
    statuses = dict(
        Delivery.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    assert statuses == {"sent": MEMBERS - MEMBERS // 10, "suppressed": MEMBERS // 10}
    assert Delivery.objects.values("member_id").distinct().count() == MEMBERS
    # the provider was called exactly once per sent delivery: no repeat at all, not even one
    # its idempotency key would have caught
    calls = ProviderCall.objects.all()
    assert calls.count() == statuses["sent"]
    assert calls.filter(accepted=True).count() == statuses["sent"]
    assert set(calls.values_list("delivery_id", flat=True)) == set(
        Delivery.objects.filter(status="sent").values_list("pk", flat=True)
    )
    assert sum(ContactBudget.objects.values_list("used", flat=True)) == statuses["sent"]
    # and the work was recovered by the sweeper seeing the new broker epoch (the worker logs
    # each sweep's counts), not by the 360 s stuck limit
    with open(tmp_path / "worker.log", "rb") as log:
        log.seek(log_mark)
        after = log.read().decode(errors="replace")
    assert "'broker_restarted': 1" in after
    # beat met the outage (waited for Redis to send a due task, or failed to) and went on
    # scheduling: the sweep that recovered the work came from it
    beat_log = (tmp_path / "beat.log").read_text(errors="replace")
    assert re.search(r"beat: Connection error|Couldn't apply scheduled task", beat_log)
    assert not re.search(r"'unstuck': [1-9]", after)
