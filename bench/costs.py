"""Measured costs for the capacity model (docs/scaling.md): CPU per unit of work.

    python -m bench.costs [purchase] [delivery] [pages] [segments]

Every figure is CPU time, not throughput: user + system time from ``/proc/<pid>/stat`` of
the processes that did the work, so other load on the machine changes it much less than
it changes requests per second.

- **purchase**: bench.earn's fixture and gunicorn (production settings, cores + 1 gthread
  workers x 3 threads); its clients post purchases for ``BENCH_COSTS_SECONDS``. CPU of
  gunicorn's process group and of the PostgreSQL backends of the benchmark database,
  divided by the purchases served.
- **delivery**: bench.fanout's seeder, worker and campaign: a campaign to
  ``BENCH_COSTS_DELIVERY_MEMBERS`` members on the no-op channel (everything but the
  provider call). CPU of the Celery worker's process group and of the database's
  PostgreSQL backends (autovacuum workers on it included) from launch to done, divided by
  the deliveries.
- **pages**: bench.pages' members (demo history, 80 purchases each) and gunicorn; clients
  request each member page for ``BENCH_COSTS_PAGE_SECONDS``. CPU of gunicorn and of the
  backends per request. The same pages are then requested in process with Django's test
  client (no HTTP server): ``time.process_time()`` plus the one backend's CPU.
- **segments**: members seeded in SQL (``BENCH_COSTS_SEGMENT_SIZES``, default 100 000 and
  1 000 000) with 1 000 home stores, birth dates, four tiers, consent to email for 60 %,
  and about ``BENCH_COSTS_PURCHASES`` purchases per member over the last year with 1-3
  lines in 30 categories. Each typical segment (``SEGMENTS``) is counted as the back-office
  counts it (``campaigns.selectors.segment_count``) and its count query run under
  ``EXPLAIN (ANALYZE, BUFFERS)``: with the server's parallel workers, and with
  ``max_parallel_workers_per_gather = 0`` (one process, whose CPU from ``/proc`` is the
  query's CPU). Then the same again after creating ``INDEXES``.

PostgreSQL's CPU counts only the backends connected to the benchmark's own database (the
server is shared): they are sampled every 0.1 s; a backend that exits between samples
loses its last 0.1 s (the servers here keep their connections). WAL writer, checkpointer
and background writer are shared by every database and not counted.

The last line is exactly ``purchase_ms=<python+pg> delivery_ms=<worker+pg>
page_ms=<gunicorn+pg, mean over the pages> segment_1m_ms=<slowest typical segment count at
the largest size, EXPLAIN ANALYZE execution time with parallel workers>`` (CPU ms per
unit; parts not run print ``-``). Results: docs/scaling.md.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BASE_URL = os.environ.get("BENCH_COSTS_DATABASE_URL", "postgres://postgres@127.0.0.1:5432")
PREFIX = os.environ.get("BENCH_COSTS_DATABASE_PREFIX", "kundklubb_bench_scale")
REDIS_URL = os.environ.get("BENCH_COSTS_REDIS_URL", "redis://127.0.0.1:6379/5")
PORT = int(os.environ.get("BENCH_COSTS_PORT", "8290"))
SECONDS = float(os.environ.get("BENCH_COSTS_SECONDS", "10"))
PAGE_SECONDS = float(os.environ.get("BENCH_COSTS_PAGE_SECONDS", "3"))
PAGE_REQUESTS = int(os.environ.get("BENCH_COSTS_PAGE_REQUESTS", "100"))
DELIVERY_MEMBERS = int(os.environ.get("BENCH_COSTS_DELIVERY_MEMBERS", "100000"))
SEGMENT_SIZES = [
    int(n) for n in os.environ.get("BENCH_COSTS_SEGMENT_SIZES", "100000,1000000").split(",")
]
PURCHASES = float(os.environ.get("BENCH_COSTS_PURCHASES", "3"))
KEEP = os.environ.get("BENCH_COSTS_KEEP", "0") == "1"
PARTS = ("purchase", "delivery", "pages", "segments")
TICK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(message, flush=True)


def database_url(part: str) -> str:
    return f"{BASE_URL.rstrip('/')}/{PREFIX}_{part}"


def admin_connect() -> psycopg.Connection[Any]:
    return psycopg.connect(
        f"{BASE_URL.rstrip('/')}/postgres".replace("postgres://", "postgresql://", 1),
        autocommit=True,
    )


def database_drop(name: str) -> None:
    with admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- CPU from /proc ------------------------------------------------------------------------


def proc_stat(pid: int) -> tuple[int, int, int] | None:
    """(utime + stime, process group, start time) in clock ticks, or None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12]), int(fields[2]), int(fields[19])


def uptime_ticks() -> int:
    return int(float(Path("/proc/uptime").read_text().split()[0]) * TICK)


class CpuMeter:
    """CPU ticks of some process groups (Python: gunicorn, Celery) and of the PostgreSQL
    backends connected to one database, between ``start()`` and ``stop()``.

    A process first seen during the window counts from zero if it started after the
    window began, else from its first sample."""

    def __init__(self, dbname: str, pgrps: list[int], interval: float = 0.1) -> None:
        self.dbname = dbname
        self.pgrps = set(pgrps)
        self.interval = interval
        self.first: dict[tuple[str, int], int] = {}
        self.last: dict[tuple[str, int], int] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.conn = admin_connect()

    def _sample(self) -> None:
        backends = [
            row[0]
            for row in self.conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.dbname]
            )
        ]
        pids: list[tuple[str, int]] = [("pg", pid) for pid in backends]
        if self.pgrps:
            for entry in os.scandir("/proc"):
                if entry.name.isdigit():
                    stat = proc_stat(int(entry.name))
                    if stat and stat[1] in self.pgrps:
                        pids.append(("py", int(entry.name)))
        for key in pids:
            stat = proc_stat(key[1])
            if stat is None:
                continue
            if key not in self.first:
                self.first[key] = 0 if stat[2] >= self.started else stat[0]
            self.last[key] = stat[0]

    def _run(self) -> None:
        while not self.stopping.wait(self.interval):
            self._sample()

    def start(self) -> CpuMeter:
        self.started = uptime_ticks()
        self._sample()
        self.t0 = time.perf_counter()
        self.thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self.stopping.set()
        self.thread.join()
        self._sample()
        self.conn.close()
        seconds = {"py": 0.0, "pg": 0.0}
        for key, last in self.last.items():
            seconds[key[0]] += (last - self.first[key]) / TICK
        seconds["wall"] = time.perf_counter() - self.t0
        return seconds


def result(**values: Any) -> None:
    log("RESULT " + json.dumps(values))


# --- purchase: bench.earn under the meter ----------------------------------------------------


def part_purchase() -> None:
    from bench import earn

    url = database_url("earn")
    earn.DATABASE_URL = url
    earn.REDIS_URL = REDIS_URL
    earn.PORT = PORT
    earn.database_prepare()
    fx = earn.fixture_create()
    # The fixture's members' "joined" events: not purchases, so not what the consumers'
    # cost below is about.
    earn.broker_queue_drop()
    proc = earn.server_start()
    try:
        earn.catalogue_prime(fx, prefix=f"c{time.time_ns()}")
        earn.run_clients(fx, seconds=0.0, warmup=3.0, prefix=f"w{time.time_ns()}")
        meter = CpuMeter(str(earn.conninfo()["dbname"]), [proc.pid]).start()
        window, _ = earn.run_clients(fx, seconds=SECONDS, warmup=0.0, prefix=f"m{time.time_ns()}")
        cpu = meter.stop()
    finally:
        earn.server_stop(proc)
    n = len(window.latencies) + window.errors
    log(
        f"purchase: {n} purchases ({window.errors} not 201) in {cpu['wall']:.1f} s; CPU "
        f"gunicorn {cpu['py']:.2f} s, PostgreSQL {cpu['pg']:.2f} s"
    )
    consumer = purchase_consumers(str(earn.conninfo()["dbname"]))
    earn.broker_queue_drop()
    result(
        n=n,
        python_ms=cpu["py"] * 1000 / n,
        pg_ms=cpu["pg"] * 1000 / n,
        rate=n / cpu["wall"],
        consumer_python_ms=consumer["py"],
        consumer_pg_ms=consumer["pg"],
    )


def purchase_consumers(dbname: str) -> dict[str, float]:
    """The purchases' ``purchased`` events, queued on the broker's pending list while no
    worker ran, consumed by a Celery worker (2 processes) under the meter: CPU per event
    (the consumers registered for ``purchased``: challenges, referrals, triggers)."""
    import redis

    from bench import earn, fanout
    from members.activity import PENDING_KEY
    from members.tasks import activity_drain

    client = redis.Redis.from_url(REDIS_URL)
    client.delete("celery")
    events = int(client.llen(PENDING_KEY))
    if not events:
        return {"py": 0.0, "pg": 0.0}
    env = {**earn.server_env(), "CELERY_BROKER_URL": REDIS_URL}
    name = fanout.worker_name()
    worker = fanout.worker_start(env, 2, ROOT / "var" / "bench-costs-worker.log", name)
    try:
        from config.celery import app

        fanout.worker_wait_ready(app, name)
        meter = CpuMeter(dbname, [worker.pid]).start()
        activity_drain.delay()
        activity_drain.delay()
        while client.llen(PENDING_KEY):
            time.sleep(0.2)
        time.sleep(1.0)  # the last batch of 200 finishes
        cpu = meter.stop()
    finally:
        fanout.worker_stop(worker)
        client.close()
    log(
        f"purchase consumers: {events} events in {cpu['wall']:.1f} s; CPU worker "
        f"{cpu['py']:.2f} s, PostgreSQL {cpu['pg']:.2f} s"
    )
    return {"py": cpu["py"] * 1000 / events, "pg": cpu["pg"] * 1000 / events}


# --- delivery: a bench.fanout campaign under the meter ---------------------------------------


def part_delivery() -> None:
    from bench import fanout

    url = database_url("fanout")
    fanout.DATABASE_URL = url
    fanout.MEMBERS = DELIVERY_MEMBERS
    env = fanout.django_env()
    env["DATABASE_URL"] = url
    env["REDIS_URL"] = env["CELERY_BROKER_URL"] = REDIS_URL
    env["CACHE_KEY_PREFIX"] = "bench-costs"
    os.environ.update(env)
    fanout.database_prepare(env)
    from django.db import connection, transaction
    from django.db.models import Count

    from campaigns.authoring import campaign_launch
    from campaigns.models import Campaign, Delivery
    from config.celery import app

    with transaction.atomic(), connection.cursor() as cursor:
        fanout.seed_members(cursor, count=DELIVERY_MEMBERS)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    campaign = fanout.campaign_make("Costs benchmark")
    app.control.purge()
    name = fanout.worker_name()
    log_path = ROOT / "var" / "bench-costs-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    worker = fanout.worker_start(env, fanout.CONCURRENCY, log_path, name)
    try:
        fanout.worker_wait_ready(app, name)
        meter = CpuMeter(connection.settings_dict["NAME"], [worker.pid]).start()
        campaign_launch(campaign=campaign, actor=None)
        deadline = time.monotonic() + 900
        while Campaign.objects.get(pk=campaign.pk).status != Campaign.Status.DONE:
            if time.monotonic() > deadline:
                raise RuntimeError("the campaign did not finish in time")
            time.sleep(0.25)
        cpu = meter.stop()
    finally:
        fanout.worker_stop(worker)
    counts = dict(
        Delivery.objects.filter(campaign=campaign)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    n = sum(counts.values())
    log(
        f"delivery: {n} deliveries {counts} in {cpu['wall']:.1f} s; CPU worker "
        f"{cpu['py']:.2f} s, PostgreSQL {cpu['pg']:.2f} s ({fanout.CONCURRENCY} processes)"
    )
    result(
        n=n,
        python_ms=cpu["py"] * 1000 / n,
        pg_ms=cpu["pg"] * 1000 / n,
        rate=n / cpu["wall"],
    )


# --- pages: bench.pages' members, through gunicorn and in process ---------------------------


def part_pages() -> None:
    from bench import pages

    url = database_url("pages")
    pages.DATABASE_URL = url
    pages.REDIS_URL = REDIS_URL
    pages.PORT = PORT + 1
    pages.VAR_DIR = ROOT / "var" / "bench-costs"
    pages.MEMBERS = min(pages.MEMBERS, 8)
    pages.database_prepare()
    pages.django_setup()
    ids = pages.members_with_history(pages.MEMBERS, pages.PURCHASES)
    pages.database_analyze()
    keys = pages.sessions_create(ids)
    dbname = str(pages.conninfo()["dbname"])
    paths = [*pages.PAGES, ("offline, anonymous", "/offline/")]
    http_ms: dict[str, tuple[float, float]] = {}
    proc = pages.server_start()
    try:
        browsers = [pages.Browser(key) for key in keys[:4]]
        for _name, path in paths:  # warm every worker's caches and connections
            for _ in range(3):
                for browser in browsers:
                    browser.get(path)
        for name, path in paths:
            anonymous = path == "/offline/"
            clients = [pages.Browser(None)] * 1 if anonymous else browsers
            counts = [0] * len(clients)
            stop_at = time.perf_counter() + PAGE_SECONDS
            meter = CpuMeter(dbname, [proc.pid]).start()

            def client(
                i: int,
                browser: Any,
                path: str = path,
                stop_at: float = stop_at,
                counts: list[int] = counts,
            ) -> None:
                while time.perf_counter() < stop_at:
                    status, _ = browser.get(path)
                    if status != 200:
                        raise RuntimeError(f"{path}: HTTP {status}")
                    counts[i] += 1

            threads = [threading.Thread(target=client, args=(i, b)) for i, b in enumerate(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            cpu = meter.stop()
            n = sum(counts)
            http_ms[name] = (cpu["py"] * 1000 / n, cpu["pg"] * 1000 / n)
            log(
                f"page {name} (gunicorn): {n} requests, CPU gunicorn "
                f"{http_ms[name][0]:.2f} ms + PostgreSQL {http_ms[name][1]:.2f} ms per request"
            )
        for browser in browsers:
            browser.close()
    finally:
        pages.server_stop(proc)

    # In process: Django's test client, the same sessions, no HTTP server.
    from django.db import connection
    from django.test import Client

    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    inproc_ms: dict[str, tuple[float, float]] = {}
    test_clients = []
    for key in keys[:4]:
        c = Client(HTTP_HOST="127.0.0.1", HTTP_ACCEPT_LANGUAGE="sv")
        c.cookies["sessionid"] = key
        test_clients.append(c)
    anonymous_client = Client(HTTP_HOST="127.0.0.1")
    for name, path in paths:
        use = [anonymous_client] if path == "/offline/" else test_clients
        for c in use:
            for _ in range(3):
                assert c.get(path, secure=True).status_code == 200, path
        before = proc_stat(backend)
        t0 = time.process_time()
        for i in range(PAGE_REQUESTS):
            response = use[i % len(use)].get(path, secure=True)
            assert response.status_code == 200, path
        python_s = time.process_time() - t0
        after = proc_stat(backend)
        assert before
        assert after
        inproc_ms[name] = (
            python_s * 1000 / PAGE_REQUESTS,
            (after[0] - before[0]) / TICK * 1000 / PAGE_REQUESTS,
        )
        log(
            f"page {name} (in process): Python {inproc_ms[name][0]:.2f} ms + PostgreSQL "
            f"{inproc_ms[name][1]:.2f} ms per request"
        )
    member_pages = [name for name, _path in pages.PAGES]
    result(
        http={k: [round(v[0], 2), round(v[1], 2)] for k, v in http_ms.items()},
        inproc={k: [round(v[0], 2), round(v[1], 2)] for k, v in inproc_ms.items()},
        python_ms=statistics.mean(http_ms[p][0] for p in member_pages),
        pg_ms=statistics.mean(http_ms[p][1] for p in member_pages),
    )


# --- segments: typical rule segments counted at 100k and 1M members -------------------------

# A typical marketer's segments (docs/campaigns.md, "Segments"); store codes s0001...
SEGMENTS: dict[str, dict[str, Any]] = {
    "tier gold or platinum": {
        "op": "and",
        "children": [{"field": "tier", "value": ["gold", "platinum"]}],
    },
    "bought shoes, last 90 days": {
        "op": "and",
        "children": [{"field": "bought_category", "value": ["cat-01"], "days": 90}],
    },
    "consent to email": {
        "op": "and",
        "children": [{"field": "consent", "value": ["marketing_email"]}],
    },
    "age 25-34": {"op": "and", "children": [{"field": "age", "min": 25, "max": 34}]},
    "home store, 10 stores": {
        "op": "and",
        "children": [
            {"field": "store", "mode": "home", "value": [f"s{n:04d}" for n in range(1, 11)]}
        ],
    },
    "all five": {
        "op": "and",
        "children": [
            {"field": "consent", "value": ["marketing_email"]},
            {"field": "tier", "value": ["silver", "gold", "platinum"]},
            {"field": "bought_category", "value": ["cat-01", "cat-02"], "days": 90},
            {"field": "age", "min": 25, "max": 44},
            {"field": "store", "mode": "home", "value": [f"s{n:04d}" for n in range(1, 101)]},
        ],
    },
}


def segments_seed(cursor: Any, members: int) -> None:
    """Stores, tiers, categories, products, ``members`` members (bench.fanout's seeder: 60 %
    with consent to email), their home store, birth date and tier, and purchases with
    lines spread over the last 365 days. Plain SQL; deterministic (no random())."""
    from bench import fanout

    cursor.execute(
        "INSERT INTO members_store (code, name, city, kind, status, created_at) "
        "SELECT 's' || lpad(g::text, 4, '0'), 'Store ' || g, '', "
        "CASE WHEN g = 1000 THEN 'webshop' ELSE 'store' END, 'open', now() "
        "FROM generate_series(1, 1000) g"
    )
    cursor.execute(
        "INSERT INTO rewards_tier (code, name_sv, name_en, rank, threshold_points, "
        "threshold_spend_ore, benefit_picks, description_sv, description_en) VALUES "
        "('base', 'Bas', 'Base', 0, 0, 0, 0, '', ''), "
        "('silver', 'Silver', 'Silver', 1, 2000, 0, 0, '', ''), "
        "('gold', 'Guld', 'Gold', 2, 8000, 0, 1, '', ''), "
        "('platinum', 'Platina', 'Platinum', 3, 20000, 0, 2, '', '')"
    )
    cursor.execute(
        "INSERT INTO rewards_category (code, name) "
        "SELECT 'cat-' || lpad(g::text, 2, '0'), 'Category ' || g FROM generate_series(1, 30) g"
    )
    cursor.execute(
        "INSERT INTO rewards_product (sku, name, category_id) "
        "SELECT 'SKU-' || g, 'Product ' || g, "
        "(SELECT id FROM rewards_category ORDER BY code OFFSET (g % 30) LIMIT 1) "
        "FROM generate_series(1, 3000) g"
    )
    # Every 5th member in 3 has consent (60 %): bench.fanout's seeder gives it to every
    # consent_every-th; 3 statements for a mix are not worth it, so: all, then withdraw.
    fanout.seed_members(cursor, count=members, prefix="S")
    cursor.execute("DELETE FROM consent_consentstate WHERE member_id % 5 IN (1, 3)")  # 60 % keep it
    cursor.execute(
        "WITH s AS (SELECT array_agg(id ORDER BY code) AS ids FROM members_store) "
        "UPDATE members_member m SET home_store_id = s.ids[1 + (m.id * 7919) % 1000], "
        "birth_date = DATE '1945-01-01' + ((m.id * 104729) % 22000)::int FROM s"
    )
    cursor.execute(
        "INSERT INTO rewards_membertier (member_id, tier_id, since) "
        "SELECT m.id, t.id, now() FROM members_member m JOIN rewards_tier t ON t.code = "
        "CASE WHEN m.id % 100 < 60 THEN 'base' WHEN m.id % 100 < 85 THEN 'silver' "
        "WHEN m.id % 100 < 97 THEN 'gold' ELSE 'platinum' END"
    )
    # About PURCHASES purchases per member over the last year (0 to 2 x PURCHASES).
    cursor.execute(
        "INSERT INTO rewards_purchase (store_id, receipt_id, member_id, total_ore, "
        "purchased_at, recorded_at, request_hash, points_earned, points_reversed, "
        "explanation) "
        "SELECT s.ids[1 + (m.id * 31 + k) %% 1000], 'r' || m.id || '-' || k, m.id, "
        "10000 + (m.id * k) %% 90000, now() - ((m.id * 37 + k * 101) %% 365) * interval '1 day', "
        "now(), '', 100, 0, '[]'::jsonb "
        "FROM members_member m, (SELECT array_agg(id ORDER BY code) AS ids FROM members_store) s, "
        "generate_series(1, %s) k WHERE k <= (m.id * 13) %% (%s + 1)",
        [int(2 * PURCHASES), int(2 * PURCHASES)],
    )
    cursor.execute(
        "INSERT INTO rewards_purchaseline (purchase_id, line_no, sku, product_id, category_id, "
        "quantity, unit_price_ore, discount_ore, points, returned_quantity, points_reversed) "
        "SELECT p.id, l, pr.sku, pr.id, pr.category_id, 1, 10000, 0, 100, 0, 0 "
        "FROM rewards_purchase p, generate_series(1, 3) l, "
        "LATERAL (SELECT id, sku, category_id FROM rewards_product "
        "WHERE id = (SELECT min(id) FROM rewards_product) + (p.id * 7 + l * 1009) % 3000) pr "
        "WHERE l <= 1 + p.id % 3"
    )


def part_segments() -> None:
    url = database_url("segments")
    name = url.rsplit("/", 1)[1]
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection

    figures: dict[str, dict[str, Any]] = {}
    for size in SEGMENT_SIZES:
        connection.close()
        database_drop(name)
        with admin_connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env={**os.environ, **env},
            check=True,
        )
        t0 = time.perf_counter()
        # psycopg directly: statements without parameters keep a plain "%".
        with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
            with conn.cursor() as cursor:
                # The rows are consistent by construction: skip the deferred foreign-key
                # checks (minutes at commit for 10 million rows) where allowed (superuser).
                try:
                    with conn.transaction():
                        cursor.execute("SET session_replication_role = replica")
                except psycopg.Error:
                    pass
                segments_seed(cursor, size)
            conn.commit()
            conn.autocommit = True
            conn.execute("VACUUM ANALYZE")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT count(*) FROM members_member), "
                "(SELECT count(*) FROM rewards_purchase), "
                "(SELECT count(*) FROM rewards_purchaseline), pg_database_size(current_database())"
            )
            members, purchases, lines, size_bytes = cursor.fetchone()
        log(
            f"segments: seeded {members} members, {purchases} purchases, {lines} lines in "
            f"{time.perf_counter() - t0:.0f} s ({size_bytes / 2**20:.0f} MB)"
        )
        figures[str(size)] = segments_measure(size, "")
        with connection.cursor() as cursor:
            for statement in INDEXES:
                cursor.execute(statement)
            cursor.execute("ANALYZE")
        figures[f"{size}+indexes"] = segments_measure(size, " with the indexes")
    connection.close()
    if not KEEP:
        database_drop(name)
    result(segments=figures)


# Indexes a chain would add for its segments (docs/scaling.md, "Segment counts"); measured
# after the plain schema's figures. "Bought category X in the last N days" can then read
# the lines of those categories and the purchases of those days from indexes alone,
# instead of every purchase line.
INDEXES = [
    "CREATE INDEX IF NOT EXISTS bench_line_category_purchase ON rewards_purchaseline "
    "(category_id, purchase_id)",
    "CREATE INDEX IF NOT EXISTS bench_purchase_time ON rewards_purchase "
    "(purchased_at) INCLUDE (id, member_id)",
]


def segments_measure(size: int, tag: str) -> dict[str, dict[str, Any]]:
    """Each of ``SEGMENTS`` counted as the back-office counts it (the second time: a
    marketer's second look finds the cache warm), and its count query under EXPLAIN
    ANALYZE with the server's parallel workers and without (then the backend's CPU from
    /proc is the query's CPU)."""
    from django.db import connection

    from campaigns.segments import members_matching
    from campaigns.selectors import segment_count

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    figures: dict[str, dict[str, Any]] = {}
    for label, criteria in SEGMENTS.items():
        segment_count(criteria)
        t1 = time.perf_counter()
        count = segment_count(criteria)
        wall_ms = (time.perf_counter() - t1) * 1000
        sql, params = members_matching(criteria).values("pk").query.sql_with_params()
        explained: dict[str, float] = {}
        plan_top = ""
        cpu_ms = 0.0
        with connection.cursor() as cursor:
            for workers in ("default", "0"):
                if workers == "0":
                    cursor.execute("SET max_parallel_workers_per_gather = 0")
                before = proc_stat(backend)
                # The ORM's own SQL and parameters, wrapped: nothing from input.
                explain = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*) FROM ("
                cursor.execute(explain + sql + ") s", params)
                after = proc_stat(backend)
                plan = cursor.fetchone()[0]
                plan = json.loads(plan) if isinstance(plan, str) else plan
                explained[workers] = plan[0]["Execution Time"]
                if workers == "default":
                    plan_top = plan_nodes(plan[0]["Plan"])
                elif before and after:
                    cpu_ms = (after[0] - before[0]) * 1000 / TICK
            cursor.execute("RESET max_parallel_workers_per_gather")
        figures[label] = {
            "count": count,
            "wall_ms": round(wall_ms, 1),
            "explain_ms": round(explained["default"], 1),
            "serial_ms": round(explained["0"], 1),
            "serial_cpu_ms": round(cpu_ms, 1),
        }
        log(
            f"segment {label!r} at {size}{tag}: {count} members; count() {wall_ms:.1f} ms, "
            f"EXPLAIN ANALYZE {explained['default']:.1f} ms ({explained['0']:.1f} ms and "
            f"{cpu_ms:.0f} ms CPU without parallel workers); plan: {plan_top}"
        )
    return figures


def plan_nodes(node: dict[str, Any], depth: int = 0) -> str:
    """The plan's node types and relations, compact."""
    label = node["Node Type"] + (f" {node['Relation Name']}" if "Relation Name" in node else "")
    if "Index Name" in node:
        label += f" ({node['Index Name']})"
    children = [plan_nodes(child, depth + 1) for child in node.get("Plans", [])]
    return label + (" > [" + ", ".join(children) + "]" if children else "")


# --- driver ------------------------------------------------------------------------------------

PART_FUNCTIONS: dict[str, Callable[[], None]] = {
    "purchase": part_purchase,
    "delivery": part_delivery,
    "pages": part_pages,
    "segments": part_segments,
}


def run_part(part: str) -> dict[str, Any]:
    """One part in its own Python process (each sets Django up with its own settings)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.costs", "--part", part],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    found: dict[str, Any] = {}
    for line in proc.stdout:
        if line.startswith("RESULT "):
            found = json.loads(line[7:])
        else:
            print(line, end="", flush=True)
    if proc.wait() != 0:
        raise RuntimeError(f"part {part} failed (exit {proc.returncode})")
    return found


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--part":
        PART_FUNCTIONS[argv[1]]()
        return 0
    parts = [p for p in argv if p in PARTS] or list(PARTS)
    log(
        f"bench.costs: {', '.join(parts)}; {os.cpu_count()} CPUs ({platform.machine()}), "
        f"Python {platform.python_version()}, load average "
        f"{' / '.join(f'{n:.1f}' for n in os.getloadavg())} before"
    )
    found = {part: run_part(part) for part in parts}
    for part in ("purchase", "delivery", "pages"):
        if part in found and not KEEP:
            database_drop(
                f"{PREFIX}_{ {'purchase': 'earn', 'delivery': 'fanout'}.get(part, part) }"
            )
    log(f"load average {' / '.join(f'{n:.1f}' for n in os.getloadavg())} after")

    def total(part: str) -> str:
        if part not in found:
            return "-"
        return f"{found[part]['python_ms'] + found[part]['pg_ms']:.3f}"

    segment = "-"
    if "segments" in found:
        largest = found["segments"]["segments"][str(max(SEGMENT_SIZES))]
        segment = f"{max(v['explain_ms'] for v in largest.values()):.0f}"
    log(
        f"purchase_ms={total('purchase')} delivery_ms={total('delivery')} "
        f"page_ms={total('pages')} segment_1m_ms={segment}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
