"""Benchmark: recording purchases (2-5 lines) through the real stack, against a raw baseline.

    python -m bench.earn            (make bench-earn)

1. Migrates a benchmark database (``BENCH_DATABASE_URL``, created if missing) and sets up
   a store, an API key, members and earning rules (a base rate, a category multiplier, an
   excluded category).
2. Starts gunicorn (``BENCH_WORKERS`` gthread workers x ``BENCH_THREADS`` threads) with the
   production settings on ``127.0.0.1:BENCH_PORT``.
3. ``BENCH_CLIENTS`` client threads post purchases over keep-alive HTTP connections with
   API-key auth: a warm-up, then timed windows at full speed (peak requests/s, p50, p99).
4. Baseline, same run, same concurrency: the same rows the API writes for a purchase
   (purchase, lines, ledger entry, lot, balance upsert, timeline event, the two outbox
   events) written with psycopg directly, one transaction per purchase.
5. Steps 3 and 4 alternate over ``BENCH_ROUNDS`` rounds of ``BENCH_SECONDS / BENCH_ROUNDS``
   each, so both sides share whatever else the machine is doing at the time; each side's
   rate is its requests over its total window time.
6. A window paced at half of the API's peak (p99 there, measured from each request's
   scheduled start so a stall cannot hide itself).

The last line is exactly
``earn_rps=<n> baseline_tps=<n> earn_ratio=<api/baseline> p99_ms=<n>`` where ``p99_ms`` is
the p99 latency at half of peak throughput. Results: docs/benchmarks.md.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kundklubb_bench"
)
# Its own Redis database: the purchases' timeline events queue their ids (and a drain task)
# there that no worker runs during the benchmark; they are dropped at the end.
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
PORT = int(os.environ.get("BENCH_PORT", "8250"))
# docs/deploy.md's recommendation: gthread workers, one more than the cores, three threads.
WORKERS = int(os.environ.get("BENCH_WORKERS", str((os.cpu_count() or 1) + 1)))
THREADS = int(os.environ.get("BENCH_THREADS", "3"))
WORKER_CLASS = os.environ.get("BENCH_WORKER_CLASS", "gthread")
WORKER_CONNECTIONS = int(os.environ.get("BENCH_WORKER_CONNECTIONS", str(THREADS)))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
WARMUP = float(os.environ.get("BENCH_WARMUP", "4"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "12"))
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "3")))
MEMBERS = int(os.environ.get("BENCH_MEMBERS", "500"))
# Production's DB_PREPARED_STATEMENTS (server-side binding, prepared statements; on by default).
PREPARED = os.environ.get("BENCH_PREPARED_STATEMENTS", "true")
SKUS = 300
CATEGORIES = ["skor", "klader", "loparskor", "tillbehor", "tobak", "presentkort", "sport"]


def log(message: str) -> None:
    print(message, flush=True)


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": "bench-" + secrets.token_hex(24),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DJANGO_SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL,
            "CACHE_KEY_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
            "EMAIL_URL": "consolemail://",
            "API_RATE_LIMIT": "100000000/min",
            "LOG_LEVEL": "WARNING",
            "DB_PREPARED_STATEMENTS": PREPARED,
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def conninfo() -> dict[str, Any]:
    import environ

    cfg = environ.Env.db_url_config(DATABASE_URL)
    return {
        "host": cfg.get("HOST") or "127.0.0.1",
        "port": int(cfg.get("PORT") or 5432),
        "user": cfg.get("USER") or "postgres",
        "password": cfg.get("PASSWORD") or None,
        "dbname": cfg["NAME"],
    }


def database_prepare() -> None:
    info = conninfo()
    with psycopg.connect(**{**info, "dbname": "postgres"}, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [info["dbname"]]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{info["dbname"]}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=server_env(),
        check=True,
    )


@dataclass
class Fixture:
    api_key: str
    store_id: int
    members: list[tuple[int, str]]  # (id, membership number)
    skus: list[tuple[str, str]]  # (sku, category)
    products: dict[str, tuple[int, int | None]] = field(default_factory=dict)


def fixture_create() -> Fixture:
    """Store, key, members and rules, through the services (idempotent across runs)."""
    os.environ.update(server_env())
    import django

    django.setup()
    from django.db import connections

    from members.models import Member, Store
    from members.services import api_key_create, member_create
    from rewards.models import Category, EarningRule

    store, _created = Store.objects.get_or_create(code="bench", defaults={"name": "Benchmark"})
    _key, secret = api_key_create(store=store, name="bench till", scopes=["purchases:write"])
    have = Member.objects.filter(first_name="Bench").count()
    for n in range(have, MEMBERS):
        member_create(
            first_name="Bench", last_name=f"Member {n}", join_channel="store", source="import"
        )
    members = list(
        Member.objects.filter(first_name="Bench")
        .order_by("pk")
        .values_list("pk", "membership_number")
    )[:MEMBERS]
    for code in CATEGORIES:
        Category.objects.get_or_create(code=code, defaults={"name": code})
    if not EarningRule.objects.filter(name_en="Bench base").exists():
        EarningRule.objects.create(kind="base", name_sv="1 p per krona", name_en="Bench base")
        EarningRule.objects.create(
            kind="multiplier",
            name_sv="2x på löparskor",
            name_en="2x on running shoes",
            multiplier=2,
            category=Category.objects.get(code="loparskor"),
        )
        for code in ("tobak", "presentkort"):
            EarningRule.objects.create(
                kind="exclusion",
                name_sv="Undantag",
                name_en="Excluded",
                category=Category.objects.get(code=code),
            )
    rng = random.Random(7)
    skus = [(f"BENCH-{n:04d}", rng.choice(CATEGORIES)) for n in range(SKUS)]
    connections.close_all()
    return Fixture(api_key=secret, store_id=store.pk, members=members, skus=skus)


# --- the HTTP side ------------------------------------------------------------------------


def purchase_body(fx: Fixture, rng: random.Random, receipt: str) -> tuple[dict[str, Any], int]:
    lines: list[dict[str, Any]] = []
    for sku, category in rng.sample(fx.skus, rng.randint(2, 5)):
        lines.append(
            {
                "sku": sku,
                "name": f"Vara {sku}",
                "category": category,
                "quantity": rng.randint(1, 3),
                "unit_price_ore": rng.randint(1, 2000) * 100 + rng.choice([0, 50]),
            }
        )
    total = sum(line["quantity"] * line["unit_price_ore"] for line in lines)
    member = rng.choice(fx.members)
    return {
        "receipt_id": receipt,
        "member": {"membership_number": member[1]},
        "total_ore": total,
        "lines": lines,
    }, member[0]


def server_start() -> subprocess.Popen[bytes]:
    cmd = [
        str(ROOT / ".venv/bin/gunicorn") if (ROOT / ".venv/bin/gunicorn").exists() else "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{PORT}",
        "--workers",
        str(WORKERS),
        "--worker-class",
        WORKER_CLASS,
        "--threads",
        str(THREADS),
        # A gthread worker would otherwise take every client's keep-alive connection and
        # leave the other workers idle; with as many connections as threads, gunicorn
        # closes each connection after its response and the kernel spreads them over the
        # workers (clients reconnect on loopback, a few microseconds).
        "--worker-connections",
        str(WORKER_CONNECTIONS),
        "--keep-alive",
        "60",
        "--log-level",
        "warning",
        "--backlog",
        "512",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=server_env(), start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=0.5):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("gunicorn exited at start-up") from None
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def server_stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class Window:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def merge(self, other: Window) -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        for status, count in other.statuses.items():
            self.statuses[status] = self.statuses.get(status, 0) + count


def run_clients(
    fx: Fixture,
    *,
    seconds: float,
    warmup: float,
    prefix: str,
    rate: float | None = None,
    stop: threading.Event | None = None,
) -> tuple[Window, float]:
    """Clients post purchases; returns the timed window's latencies and its length.

    With ``rate`` (requests/s in total) each client sends on a fixed schedule and latency is
    measured from the scheduled start; without it, clients send back to back. With ``stop``
    the window ends when the event is set (``seconds`` is then ignored) instead, and its
    length is the time from the end of the warm-up until a client first saw the event."""
    window = Window()
    lock = threading.Lock()
    start = time.perf_counter() + 0.5
    measure_from = start + warmup
    stop_at = measure_from + seconds if stop is None else float("inf")
    stopped: list[float] = []
    headers = {"Authorization": f"Api-Key {fx.api_key}", "Content-Type": "application/json"}

    def client(index: int) -> None:
        rng = random.Random(f"{prefix}-{index}")
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        interval = CLIENTS / rate if rate else 0.0
        scheduled = start + (index * interval / CLIENTS if rate else 0.0)
        n = 0
        while True:
            now = time.perf_counter()
            if rate:
                if scheduled > now:
                    time.sleep(scheduled - now)
                began = scheduled
                scheduled += interval
            else:
                began = now
            if stop is not None and stop.is_set():
                with lock:
                    stopped.append(time.perf_counter())
                break
            if began >= stop_at:
                break
            body, _member = purchase_body(fx, rng, f"{prefix}-{index}-{n}")
            n += 1
            try:
                conn.request("POST", "/api/v1/purchases/", json.dumps(body), headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
                status = 0
            done = time.perf_counter()
            if began >= measure_from and done <= stop_at + 5:
                with lock:
                    window.statuses[status] = window.statuses.get(status, 0) + 1
                    if status == 201:
                        window.latencies.append(done - began)
                    else:
                        window.errors += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if stop is not None:
        seconds = max(0.0, min(stopped, default=measure_from) - measure_from)
    return window, seconds


# --- the psycopg baseline -----------------------------------------------------------------

PURCHASE_SQL = """
INSERT INTO rewards_purchase (store_id, receipt_id, member_id, total_ore, purchased_at,
    recorded_at, request_hash, points_earned, points_reversed, points_available_at,
    explanation, claimed_at)
VALUES (%s, %s, %s, %s, now(), now(), %s, %s, 0, now() + interval '14 days', %s, NULL)
RETURNING id
"""
ENTRY_SQL = """
INSERT INTO rewards_ledgerentry (member_id, kind, points, delta_pending, delta_posted,
    delta_reserved, cause, purchase_id, explanation, reason, store_id, idempotency_key, created_at)
VALUES (%s, 'earn', %s, %s, 0, 0, 'purchase', %s, %s, '', %s, %s, now())
RETURNING id
"""
LOT_SQL = """
INSERT INTO rewards_pointlot (member_id, entry_id, purchase_id, amount, remaining,
    available_at, matured, expires_at)
VALUES (%s, %s, %s, %s, %s, now() + interval '14 days', false, now() + interval '2 years')
"""
BALANCE_SQL = """
INSERT INTO rewards_pointbalance (member_id, pending, posted, reserved, updated_at)
VALUES (%s, %s, 0, 0, now())
ON CONFLICT (member_id) DO UPDATE SET pending = rewards_pointbalance.pending + excluded.pending,
    updated_at = excluded.updated_at
"""
# Only "%s" placeholders are appended to this, one group per line.
LINES_SQL = (
    "INSERT INTO rewards_purchaseline (purchase_id, line_no, sku, product_id, category_id, "
    "quantity, unit_price_ore, discount_ore, points, returned_quantity, points_reversed) VALUES "
)
EVENT_SQL = """
INSERT INTO members_activityevent (member_id, kind, data, source, store_id, created_at)
VALUES (%s, 'purchased', %s, 'api', %s, now())
"""
# The purchase's public events (members.outbox, docs/webhooks.md); uuid: the column's default.
OUTBOX_SQL = """
INSERT INTO members_outboxevent (type, version, member_id, store_id, data, occurred_at)
VALUES ('purchase.recorded', 1, %s, %s, %s, now()), ('points.changed', 1, %s, %s, %s, now())
"""


def catalogue_prime(fx: Fixture, prefix: str) -> None:
    """Every SKU of the benchmark once through the API (purchases without a member), so the
    catalogue holds them all before the timed rounds: the baseline writes lines for SKUs the
    API made, and a short warm-up on a new database does not reach all of them."""
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    headers = {"Authorization": f"Api-Key {fx.api_key}", "Content-Type": "application/json"}
    for start in range(0, len(fx.skus), 100):
        lines = [
            {"sku": sku, "name": f"Vara {sku}", "category": category, "unit_price_ore": 100}
            for sku, category in fx.skus[start : start + 100]
        ]
        body = {
            "receipt_id": f"{prefix}-catalogue-{start}",
            "member": None,
            "total_ore": 100 * len(lines),
            "lines": [{**line, "quantity": 1} for line in lines],
        }
        conn.request("POST", "/api/v1/purchases/", json.dumps(body), headers)
        response = conn.getresponse()
        answer = response.read()
        if response.status != 201:
            raise RuntimeError(f"priming the catalogue: HTTP {response.status} {answer[:300]!r}")
    conn.close()


def products_load(fx: Fixture) -> None:
    with psycopg.connect(**conninfo()) as conn:
        rows = conn.execute(
            "SELECT sku, id, category_id FROM rewards_product WHERE sku LIKE 'BENCH-%%'"
        ).fetchall()
    fx.products = {sku: (pk, category_id) for sku, pk, category_id in rows}


def run_baseline(fx: Fixture, *, seconds: float, warmup: float, prefix: str) -> Window:
    window = Window()
    lock = threading.Lock()
    start = time.perf_counter() + 0.5
    measure_from = start + warmup
    stop_at = measure_from + seconds

    def writer(index: int) -> None:
        rng = random.Random(f"{prefix}-{index}")
        with psycopg.connect(**conninfo()) as conn:
            time.sleep(max(0.0, start - time.perf_counter()))
            n = 0
            while True:
                began = time.perf_counter()
                if began >= stop_at:
                    break
                body, member_id = purchase_body(fx, rng, f"{prefix}-{index}-{n}")
                n += 1
                points = sum(
                    line["quantity"] * line["unit_price_ore"] // 100 for line in body["lines"]
                )
                explanation = json.dumps(
                    [{"rule": 1, "sv": "1 p per krona", "en": "Base", "points": points}]
                )
                with conn.transaction():
                    purchase_id = conn.execute(
                        PURCHASE_SQL,
                        [
                            fx.store_id,
                            body["receipt_id"],
                            member_id,
                            body["total_ore"],
                            secrets.token_hex(32),
                            points,
                            explanation,
                        ],
                    ).fetchone()[0]  # type: ignore[index]
                    values = []
                    params: list[Any] = []
                    for line_no, line in enumerate(body["lines"], 1):
                        product_id, category_id = fx.products[line["sku"]]
                        values.append("(%s, %s, %s, %s, %s, %s, %s, 0, %s, 0, 0)")
                        params += [
                            purchase_id,
                            line_no,
                            line["sku"],
                            product_id,
                            category_id,
                            line["quantity"],
                            line["unit_price_ore"],
                            line["quantity"] * line["unit_price_ore"] // 100,
                        ]
                    conn.execute(LINES_SQL + ", ".join(values), params)
                    entry_id = conn.execute(
                        ENTRY_SQL,
                        [
                            member_id,
                            points,
                            points,
                            purchase_id,
                            explanation,
                            fx.store_id,
                            f"bench:{prefix}:{purchase_id}",
                        ],
                    ).fetchone()[0]  # type: ignore[index]
                    conn.execute(LOT_SQL, [member_id, entry_id, purchase_id, points, points])
                    conn.execute(BALANCE_SQL, [member_id, points])
                    conn.execute(
                        EVENT_SQL,
                        [
                            member_id,
                            json.dumps({"purchase_id": purchase_id, "points": points}),
                            fx.store_id,
                        ],
                    )
                    conn.execute(
                        OUTBOX_SQL,
                        [
                            member_id,
                            fx.store_id,
                            json.dumps({"purchase_id": purchase_id, "points_earned": points}),
                            member_id,
                            fx.store_id,
                            json.dumps({"entry_id": entry_id, "points": points}),
                        ],
                    )
                done = time.perf_counter()
                if began >= measure_from and done <= stop_at + 5:
                    with lock:
                        window.latencies.append(done - began)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return window


def broker_queue_drop() -> None:
    """Drop the tasks and timeline event ids the benchmark's purchases queued (no worker
    ran them)."""
    import redis

    from members.activity import PENDING_KEY

    client = redis.Redis.from_url(REDIS_URL)
    client.delete("celery", PENDING_KEY)
    client.close()


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def describe(name: str, window: Window, seconds: float) -> float:
    rate = len(window.latencies) / seconds
    log(
        f"{name}: {rate:.0f}/s over {seconds:.0f} s, n={len(window.latencies)}, "
        f"p50={percentile(window.latencies, 50) * 1000:.1f} ms, "
        f"p99={percentile(window.latencies, 99) * 1000:.1f} ms"
        + (f", errors={window.errors} {window.statuses}" if window.errors else "")
    )
    return rate


def machine() -> str:
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    with psycopg.connect(**conninfo()) as conn:
        pg = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"PostgreSQL {pg}, {platform.system()} {platform.release()}"
    )


def main() -> int:
    log(
        f"bench.earn: {WORKERS} gunicorn {WORKER_CLASS} workers x {THREADS} threads "
        f"(at most {WORKER_CONNECTIONS} connections each), {CLIENTS} clients, "
        f"prepared statements {PREPARED}, "
        f"warm-up {WARMUP:.0f} s, window {SECONDS:.0f} s, port {PORT}, "
        f"load average {os.getloadavg()[0]:.1f} before"
    )
    database_prepare()
    fx = fixture_create()
    log(f"machine: {machine()}")
    run_id = uuid.uuid4().hex[:8]
    proc = server_start()
    peak, base = Window(), Window()
    round_seconds = SECONDS / ROUNDS
    try:
        # Every SKU into the catalogue as the API makes it (created on first sight), then a
        # warm-up: worker processes import and connect.
        catalogue_prime(fx, prefix=f"c{run_id}")
        run_clients(fx, seconds=0.0, warmup=WARMUP, prefix=f"w{run_id}")
        products_load(fx)
        missing = {sku for sku, _category in fx.skus} - set(fx.products)
        if missing:
            raise RuntimeError(
                f"{len(missing)} SKUs are not in the catalogue: {sorted(missing)[:5]}"
            )
        for n in range(ROUNDS):
            api_window, _ = run_clients(
                fx, seconds=round_seconds, warmup=1.0, prefix=f"p{run_id}{n}"
            )
            describe(f"api  (peak, round {n + 1})", api_window, round_seconds)
            base_window = run_baseline(
                fx, seconds=round_seconds, warmup=1.0, prefix=f"b{run_id}{n}"
            )
            describe(f"psycopg baseline (round {n + 1})", base_window, round_seconds)
            peak.merge(api_window)
            base.merge(base_window)
        earn_rps = describe("api  (peak)", peak, SECONDS)
        if peak.errors > len(peak.latencies) * 0.01 or not peak.latencies:
            log("too many errors; stopping")
            return 1
        baseline_tps = describe("psycopg baseline", base, SECONDS)
        half_window, _ = run_clients(
            fx, seconds=SECONDS, warmup=1.0, prefix=f"h{run_id}", rate=earn_rps / 2
        )
        describe("api  (half of peak, paced)", half_window, SECONDS)
    finally:
        server_stop(proc)
        broker_queue_drop()
    log(f"load average {os.getloadavg()[0]:.1f} after (other processes share these CPUs)")
    p99_half = percentile(half_window.latencies, 99) * 1000
    log(
        f"earn_rps={earn_rps:.0f} baseline_tps={baseline_tps:.0f} "
        f"earn_ratio={earn_rps / baseline_tps:.2f} p99_ms={p99_half:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
