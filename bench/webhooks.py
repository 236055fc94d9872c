"""Benchmark: 10,000 events delivered as signed webhooks by a real Celery worker, against
plain HTTP POSTs of the same bodies (issue 17, docs/webhooks.md "Delivery").

    python -m bench.webhooks            (make bench-webhooks)

1. A fresh benchmark database (``BENCH_WEBHOOKS_DATABASE_URL``), migrated; 1,000 members;
   an endpoint for ``points.changed`` pointing at a receiver on loopback (a threading
   ``http.server`` in this process, ``tests.consent.webhook_receiver``) that answers 200.
2. **Baseline**, same run: the bodies of ``BENCH_WEBHOOKS_EVENTS`` (10,000) such events,
   POSTed one after another from this process over one kept-alive connection (httpx), no
   signing, no database: ``baseline`` events/s.
3. **Throughput**: a Celery worker (``BENCH_WEBHOOKS_CONCURRENCY`` processes, default the
   number of cores) is started; the same number of events is committed in transactions of
   1,000 rows written at once (``bulk_create`` and ``outbox_emitted``, as the till's SQL
   hands its rows to the outbox's after-commit hook), so that the run measures delivery
   rather than this process's inserts; the time runs
   from the first commit until the receiver has every ``webhook-id``. ``webhook_ratio`` is
   that rate divided by the baseline's.
4. **Latency, not saturated**: ``BENCH_WEBHOOKS_LATENCY_EVENTS`` (1,000) more events, one per
   transaction at ``BENCH_WEBHOOKS_RATE`` (100) per second; for each, the time from its
   commit until the receiver had it. ``p95_ms`` is their 95th percentile.

Runs with ``config.settings.test`` (the one settings file that allows a loopback receiver,
``WEBHOOKS_ALLOW_LOOPBACK``) on its own database and Redis database. The last line is
exactly ``events=<n> webhook_ratio=<n> p95_ms=<n>`` (events delivered in step 3). Results:
docs/benchmarks.md ("Webhooks").
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

from bench.fanout import log, worker_name, worker_start, worker_stop, worker_wait_ready

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get(
    "BENCH_WEBHOOKS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kundklubb_bench_webhooks"
)
REDIS_URL = os.environ.get("BENCH_WEBHOOKS_REDIS_URL", "redis://127.0.0.1:6379/12")
EVENTS = int(os.environ.get("BENCH_WEBHOOKS_EVENTS", "10000"))
LATENCY_EVENTS = int(os.environ.get("BENCH_WEBHOOKS_LATENCY_EVENTS", "1000"))
RATE = float(os.environ.get("BENCH_WEBHOOKS_RATE", "100"))
CONCURRENCY = int(os.environ.get("BENCH_WEBHOOKS_CONCURRENCY", str(os.cpu_count() or 2)))
TIMEOUT = float(os.environ.get("BENCH_WEBHOOKS_TIMEOUT", "600"))
MEMBERS = 1000
PER_COMMIT = 1000


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL,
            "CELERY_BROKER_URL": REDIS_URL,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CACHE_KEY_PREFIX": "bench-webhooks",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def _wait(condition: object, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def main() -> None:
    env = _env()
    os.environ.update(env)
    log(
        f"webhooks benchmark: {EVENTS} events, {CONCURRENCY} worker processes, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )
    import bench.fanout as fanout

    fanout.DATABASE_URL = DATABASE_URL
    fanout.database_prepare(env)

    import httpx
    from django.db import connection, transaction
    from django.db.models import Count
    from django.utils import timezone

    from config.celery import app
    from consent.models import Purpose, WebhookDelivery
    from consent.webhooks.endpoints import webhook_endpoint_create
    from consent.webhooks.payloads import payload_build
    from members.models import ApiKey, Member, OutboxEvent, Store
    from members.outbox import outbox_emit, outbox_emitted
    from members.services import api_key_create
    from tests.consent.webhook_receiver import Receiver

    with transaction.atomic(), connection.cursor() as cursor:
        fanout.seed_members(cursor, count=MEMBERS, prefix="W")
    members = list(Member.objects.order_by("pk")[:MEMBERS])
    store = Store.objects.create(code="webbutiken", name="Webbutiken", kind=Store.Kind.WEBSHOP)
    key, _plain = api_key_create(store=store, name="Webbutiken", scopes=["points:read"])
    assert isinstance(key, ApiKey)
    receiver = Receiver().start()
    try:
        # --- baseline: the same bodies, plain POSTs from one process --------------------------
        with transaction.atomic():
            sample = [
                outbox_emit("points.changed", member=members[n % MEMBERS], data={"points": n})
                for n in range(EVENTS)
            ]
            bodies = [
                payload_build(e, personal=[], member=members[n % MEMBERS])[0]
                for n, e in enumerate(sample)
            ]
            transaction.set_rollback(True)  # the baseline's events are never committed
        with httpx.Client(timeout=5.0, trust_env=False) as client:
            t0 = time.perf_counter()
            for body in bodies:
                response = client.post(
                    receiver.url, content=body, headers={"Content-Type": "application/json"}
                )
                assert response.status_code == 200
            baseline_s = time.perf_counter() - t0
        baseline_rate = EVENTS / baseline_s
        log(f"baseline: {EVENTS} plain POSTs in {baseline_s:.2f} s = {baseline_rate:.0f}/s")
        receiver.requests.clear()
        receiver.every_request.clear()

        webhook_endpoint_create(
            url=receiver.url,
            event_types=["points.changed"],
            api_key=key,
            purpose=Purpose.objects.get(code="membership"),
            recipient="Webbutiken",
            reason_sv="visa dina poäng i kassan",
            reason_en="show your points at the till",
        )
        app.control.purge()
        log_path = ROOT / "var" / "bench-webhooks-worker.log"
        log_path.parent.mkdir(exist_ok=True)
        log_path.unlink(missing_ok=True)
        name = worker_name()
        worker = worker_start(env, CONCURRENCY, log_path, name)
        try:
            worker_wait_ready(app, name)
            # --- throughput: 10,000 events in transactions of 100 ------------------------------
            t0 = time.perf_counter()
            for start in range(0, EVENTS, PER_COMMIT):
                with transaction.atomic():
                    rows = OutboxEvent.objects.bulk_create(
                        OutboxEvent(
                            type="points.changed",
                            member=members[n % MEMBERS],
                            data={"points": n},
                            occurred_at=timezone.now(),
                        )
                        for n in range(start, min(start + PER_COMMIT, EVENTS))
                    )
                    outbox_emitted([row.pk for row in rows])
            emitted_s = time.perf_counter() - t0
            # Cheap checks while it runs (the receiver shares this process's CPU and lock).
            _wait(
                lambda: len(receiver.requests) >= EVENTS and len(set(receiver.ids())) >= EVENTS,
                "the throughput run",
            )
            webhook_s = time.perf_counter() - t0
            delivered = len(set(receiver.ids()))
            rate = delivered / webhook_s
            log(
                f"webhooks: {delivered} events committed in {emitted_s:.2f} s, delivered in "
                f"{webhook_s:.2f} s = {rate:.0f}/s ({len(receiver.requests)} requests)"
            )

            # --- latency while not saturated ---------------------------------------------------
            committed: dict[str, float] = {}
            interval = 1 / RATE
            next_at = time.perf_counter()
            for n in range(LATENCY_EVENTS):
                with transaction.atomic():
                    event = outbox_emit(
                        "points.changed", member=members[n % MEMBERS], data={"points": n}
                    )
                committed[event.webhook_id] = time.time()
                next_at += interval
                pause = next_at - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
            _wait(lambda: set(receiver.ids()) >= set(committed), "the latency run")
        finally:
            worker_stop(worker)
        arrived: dict[str, float] = {}
        for request in list(receiver.requests):
            webhook_id = request.headers.get("webhook-id", "")
            if webhook_id in committed and webhook_id not in arrived:
                arrived[webhook_id] = request.at
        latencies = sorted((arrived[i] - committed[i]) * 1000 for i in committed)
        p95 = statistics.quantiles(latencies, n=100)[94]
        log(
            f"latency at {RATE:.0f} events/s: {len(latencies)} events, median "
            f"{statistics.median(latencies):.0f} ms, p95 {p95:.0f} ms, max {latencies[-1]:.0f} ms"
        )
        statuses = dict(
            WebhookDelivery.objects.values_list("status").annotate(n=Count("pk")).order_by()
        )
        log(f"deliveries: {statuses}; events in the outbox: {OutboxEvent.objects.count()}")
    finally:
        receiver.stop()
    print(f"events={delivered} webhook_ratio={rate / baseline_rate:.2f} p95_ms={p95:.0f}")


if __name__ == "__main__":
    main()
