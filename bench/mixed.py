"""Benchmark: the till's purchases while a 100 000-member campaign fans out and sends.

    python -m bench.mixed            (make bench-mixed)

1. A fresh benchmark database (``BENCH_MIXED_DATABASE_URL``): bench.earn's fixture (store,
   API key, 500 members, earning rules) and bench.fanout's 100 000 members with consent to
   email offers, seeded in SQL.
2. Gunicorn with the production settings as bench.earn runs it, and real Celery workers with
   the production settings in docs/deploy.md's shape: one for the default queue
   (``BENCH_MIXED_CONCURRENCY``, 4), one for the campaigns queue
   (``BENCH_MIXED_CAMPAIGN_CONCURRENCY``, half the cores; it lowers its own priority,
   ``CAMPAIGNS_WORKER_NICE``); ``BENCH_MIXED_SPLIT=0`` runs one worker for both queues
   instead. Broker and cache on ``BENCH_MIXED_REDIS_URL``. The campaign sends on the no-op
   channel (everything but the provider call: consent, budget, rendering, marking sent);
   the purchases' timeline events are consumed by the default worker, as in production.
3. ``BENCH_MIXED_ROUNDS`` rounds, each:
   a. the till alone, clients back to back for ``BENCH_MIXED_SECONDS`` (peak);
   b. a new campaign launched, the till at full speed until the campaign is done or
      ``BENCH_MIXED_PEAK_SECONDS`` (180) have passed (the campaign is then waited for);
   c. the till alone, paced at half of (a)'s peak (p99 from each request's scheduled start);
   d. a new campaign, the till paced as in (c) until the campaign is done;
   e. a new campaign with no till load (its own time alone).
   Between campaigns the deliveries and the week's contact budget are emptied, so every
   campaign does the same work. Before each step the bench waits until the default worker
   has consumed every timeline event the till's purchases queued (the pending list is
   empty), so an "alone" window is alone, and logs how long that took: the consumers'
   catching up is the till's own work, done after its answers.
4. ``mixed_ratio`` = requests/s in (b) / in (a), over all rounds; ``p99_ratio`` = p99 in
   (d) / in (c). The campaign's time (launch -> done) is reported for (b), (d) and (e).

The last line is exactly ``mixed_ratio=<earn during campaign / alone> p99_ratio=<n>``.
Results: docs/benchmarks.md ("Mixed: tills during a campaign").
"""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench import earn, fanout

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get(
    "BENCH_MIXED_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kundklubb_bench_mixed"
)
REDIS_URL = os.environ.get("BENCH_MIXED_REDIS_URL", "redis://127.0.0.1:6379/6")
PORT = int(os.environ.get("BENCH_MIXED_PORT", "8270"))
MEMBERS = int(os.environ.get("BENCH_MIXED_MEMBERS", "100000"))
SECONDS = float(os.environ.get("BENCH_MIXED_SECONDS", "12"))
ROUNDS = max(1, int(os.environ.get("BENCH_MIXED_ROUNDS", "2")))
TIMEOUT = float(os.environ.get("BENCH_MIXED_TIMEOUT", "600"))
# The till at full speed beside a campaign stops after this long even if the campaign is not
# done: a niced campaign may get next to nothing beside a till that takes every core.
PEAK_LIMIT = float(os.environ.get("BENCH_MIXED_PEAK_SECONDS", "180"))
# docs/deploy.md's workers: one for the default queue (--concurrency=4), one for the
# campaigns queue (half the cores, at least 1; it lowers its own CPU priority,
# CAMPAIGNS_WORKER_NICE). BENCH_MIXED_SPLIT=0: one worker for both queues (-c
# BENCH_MIXED_CONCURRENCY), the shape before the campaigns queue.
SPLIT = os.environ.get("BENCH_MIXED_SPLIT", "1") != "0"
CONCURRENCY = int(os.environ.get("BENCH_MIXED_CONCURRENCY", "4"))
CAMPAIGN_CONCURRENCY = int(
    os.environ.get("BENCH_MIXED_CAMPAIGN_CONCURRENCY", str(max(1, (os.cpu_count() or 1) // 2)))
)
WORKER_ARGS = shlex.split(os.environ.get("BENCH_MIXED_WORKER_ARGS", "--max-tasks-per-child=1000"))

# bench.earn's and bench.fanout's functions read these module globals when called.
earn.DATABASE_URL = DATABASE_URL
earn.REDIS_URL = REDIS_URL
earn.PORT = PORT
fanout.DATABASE_URL = DATABASE_URL


def log(message: str) -> None:
    print(message, flush=True)


def loadavg() -> str:
    return " / ".join(f"{n:.1f}" for n in os.getloadavg())


def worker_env() -> dict[str, str]:
    env = earn.server_env()
    env["CELERY_BROKER_URL"] = REDIS_URL
    return env


@dataclass
class Side:
    """One kind of window, merged over the rounds."""

    window: earn.Window = field(default_factory=earn.Window)
    seconds: float = 0.0

    def add(self, window: earn.Window, seconds: float) -> None:
        self.window.merge(window)
        self.seconds += seconds

    @property
    def rate(self) -> float:
        return len(self.window.latencies) / self.seconds if self.seconds else 0.0


def consumers_wait(label: str, *, limit: float = 900.0) -> None:
    """Wait until the timeline events the till's purchases queued are consumed (the drain
    takes the ids off the list; the last batch is a second or two behind)."""
    import redis

    from members.activity import PENDING_KEY

    client = redis.Redis.from_url(REDIS_URL)
    started = time.perf_counter()
    waiting = first = int(client.llen(PENDING_KEY))
    while waiting and time.perf_counter() - started < limit:
        time.sleep(0.5)
        waiting = int(client.llen(PENDING_KEY))
    client.close()
    if first:
        took = time.perf_counter() - started
        log(
            f"  before {label}: {first} timeline events consumed in {took:.1f} s"
            + (f", {waiting} still waiting (gave up)" if waiting else "")
        )


def campaign_reset() -> None:
    """Empty the deliveries (and what hangs off them) and the contact budget, so the next
    campaign does the same work as the first (the weekly cap would suppress it otherwise)."""
    with psycopg.connect(**earn.conninfo(), autocommit=True) as conn:
        conn.execute("TRUNCATE campaigns_contactbudget, campaigns_delivery CASCADE")


class CampaignRun:
    """Launch a new campaign; ``done`` is set when it is (polled from the database), or when
    ``limit`` seconds have passed: the till beside it stops then, and the campaign is still
    waited for (``TIMEOUT``) before the next step empties its deliveries."""

    def __init__(self, name: str, *, limit: float = TIMEOUT) -> None:
        from campaigns.authoring import campaign_launch

        campaign_reset()
        self.campaign = fanout.campaign_make(name)
        self.done = threading.Event()
        self.error: str = ""
        self.limit = limit
        self.cut: dict[str, int] = {}  # the deliveries by status when the limit was reached
        self.started = time.perf_counter()
        self.finished = 0.0
        campaign_launch(campaign=self.campaign, actor=None)
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        deadline = self.started + TIMEOUT
        with psycopg.connect(**earn.conninfo(), autocommit=True) as conn:
            while True:
                row = conn.execute(
                    "SELECT status FROM campaigns_campaign WHERE id = %s", [self.campaign.pk]
                ).fetchone()
                if row and row[0] == "done":
                    break
                now = time.perf_counter()
                if not self.done.is_set() and now > self.started + self.limit:
                    self.cut = self.counts()
                    self.done.set()
                    deadline = now + TIMEOUT
                if now > deadline:
                    self.error = "the campaign did not finish in time"
                    break
                time.sleep(0.1)
        self.finished = time.perf_counter()
        self.done.set()

    def wait(self) -> float:
        self._thread.join()
        if self.error:
            raise RuntimeError(self.error)
        return self.finished - self.started

    def counts(self) -> dict[str, int]:
        with psycopg.connect(**earn.conninfo()) as conn:
            rows = conn.execute(
                "SELECT status, count(*) FROM campaigns_delivery WHERE campaign_id = %s "
                "GROUP BY status",
                [self.campaign.pk],
            ).fetchall()
        return dict(rows)


def main() -> int:
    log(
        f"bench.mixed: {earn.WORKERS} gunicorn {earn.WORKER_CLASS} workers x {earn.THREADS} "
        f"threads, {earn.CLIENTS} clients; Celery "
        + (
            f"workers -Q celery -c {CONCURRENCY} and -Q campaigns -c {CAMPAIGN_CONCURRENCY} "
            f"(nice {os.environ.get('CAMPAIGNS_WORKER_NICE', '10')})"
            if SPLIT
            else f"worker (both queues) -c {CONCURRENCY}"
        )
        + f" {' '.join(WORKER_ARGS)}; "
        f"{MEMBERS} members; {ROUNDS} rounds, alone windows {SECONDS:.0f} s; port {PORT}, "
        f"{REDIS_URL}; load average {loadavg()} before"
    )
    started = time.perf_counter()
    fanout.database_recreate()
    earn.database_prepare()
    fx = earn.fixture_create()
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        fanout.seed_members(cursor, count=MEMBERS)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()
    log(f"machine: {earn.machine()}")
    log(f"database ready in {time.perf_counter() - started:.1f} s")

    from config.celery import app

    app.control.purge()
    earn.broker_queue_drop()  # and the timeline ids an earlier run left on this database
    log_path = ROOT / "var" / "bench-mixed-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    log_path.unlink(missing_ok=True)
    workers: dict[str, subprocess.Popen[bytes]] = {}
    if SPLIT:
        shapes = [
            ("default", CONCURRENCY, ["-Q", "celery"]),
            ("campaigns", CAMPAIGN_CONCURRENCY, ["-Q", "campaigns"]),
        ]
    else:
        shapes = [("both", CONCURRENCY, [])]
    for label, concurrency, queues in shapes:
        name = f"mixed-{label}-{os.getpid()}@{platform.node()}"
        workers[name] = fanout.worker_start(
            worker_env(), concurrency, log_path, name, extra=[*queues, *WORKER_ARGS]
        )
    server = earn.server_start()
    run_id = uuid.uuid4().hex[:8]
    alone, during = Side(), Side()
    alone_half, during_half = Side(), Side()
    times: dict[str, list[float]] = {"peak": [], "half": [], "alone": []}
    try:
        for name in workers:
            fanout.worker_wait_ready(app, name)
        earn.catalogue_prime(fx, prefix=f"c{run_id}")
        earn.run_clients(fx, seconds=0.0, warmup=earn.WARMUP, prefix=f"w{run_id}")
        for n in range(ROUNDS):
            tag = f"{run_id}{n}"
            consumers_wait("the till alone")
            window, seconds = earn.run_clients(fx, seconds=SECONDS, warmup=1.0, prefix=f"a{tag}")
            alone.add(window, seconds)
            peak = earn.describe(f"round {n + 1}: till alone (peak)", window, seconds)

            consumers_wait("the campaign with the till at peak")
            run = CampaignRun(f"Mixed {tag} peak", limit=PEAK_LIMIT)
            window, seconds = earn.run_clients(
                fx, seconds=0.0, warmup=0.0, prefix=f"d{tag}", stop=run.done
            )
            times["peak"].append(run.wait())
            during.add(window, seconds)
            earn.describe(f"round {n + 1}: till during the campaign (peak)", window, seconds)
            if run.cut:
                log(f"  the till stopped after {PEAK_LIMIT:.0f} s with the campaign at {run.cut}")
            log(f"  campaign {times['peak'][-1]:.1f} s, {run.counts()}")

            consumers_wait("the till alone at half of peak")
            window, seconds = earn.run_clients(
                fx, seconds=SECONDS, warmup=1.0, prefix=f"h{tag}", rate=peak / 2
            )
            alone_half.add(window, seconds)
            earn.describe(f"round {n + 1}: till alone (half of peak, paced)", window, seconds)

            consumers_wait("the campaign with the till at half of peak")
            run = CampaignRun(f"Mixed {tag} half")
            window, seconds = earn.run_clients(
                fx, seconds=0.0, warmup=0.0, prefix=f"e{tag}", rate=peak / 2, stop=run.done
            )
            times["half"].append(run.wait())
            during_half.add(window, seconds)
            earn.describe(
                f"round {n + 1}: till during the campaign (half of peak, paced)", window, seconds
            )
            log(f"  campaign {times['half'][-1]:.1f} s, {run.counts()}")

            consumers_wait("the campaign alone")
            run = CampaignRun(f"Mixed {tag} alone")
            times["alone"].append(run.wait())
            log(f"round {n + 1}: campaign alone {times['alone'][-1]:.1f} s, {run.counts()}")
            log(f"  load average {loadavg()}")
    finally:
        earn.server_stop(server)
        for worker in workers.values():
            fanout.worker_stop(worker)
        earn.broker_queue_drop()
        app.control.purge()
    log("over all rounds:")
    alone_rps = earn.describe("till alone (peak)", alone.window, alone.seconds)
    during_rps = earn.describe("till during the campaign (peak)", during.window, during.seconds)
    earn.describe("till alone (half of peak)", alone_half.window, alone_half.seconds)
    earn.describe(
        "till during the campaign (half of peak)", during_half.window, during_half.seconds
    )
    for label, values in (
        ("campaign alone", times["alone"]),
        ("campaign with the till at peak", times["peak"]),
        ("campaign with the till at half of peak", times["half"]),
    ):
        log(f"{label}: " + ", ".join(f"{t:.1f} s" for t in values))
    errors = sum(s.window.errors for s in (alone, during, alone_half, during_half))
    if errors:
        log(f"errors: {errors}")
    log(f"load average {loadavg()} after (other processes share these CPUs)")
    p99_alone = earn.percentile(alone_half.window.latencies, 99)
    p99_during = earn.percentile(during_half.window.latencies, 99)
    log(f"mixed_ratio={during_rps / alone_rps:.2f} p99_ratio={p99_during / p99_alone:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
