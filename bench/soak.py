"""Benchmark: ten minutes of everything at once, on one machine; nothing may fail, the books
must hold, and no process may grow.

    python -m bench.soak            (make bench-soak)

1. A fresh database (``BENCH_SOAK_DATABASE_URL``), migrated, with collected static files
   (bench.pages' preparation): the demo's configuration and a year of history for
   ``BENCH_SOAK_HISTORY`` members, ``BENCH_SOAK_BROWSE_MEMBERS`` of them with a login and
   ``BENCH_SOAK_PURCHASES`` purchases (bench.pages' members); a store ``soak`` with an
   integration key (purchases and points) and ``BENCH_SOAK_TILL_MEMBERS`` members with
   100 000 available points each (a staff adjustment); ``BENCH_SOAK_CAMPAIGN_MEMBERS`` members
   with consent to email offers (bench.fanout's seeder).
2. The production settings (``config.settings.production``) in docs/deploy.md's shape:
   gunicorn as bench.pages runs it (cores + 1 gthread workers x 3 threads, keep-alive,
   reuse-port), a Celery worker for the default queue (``-c BENCH_SOAK_CONCURRENCY``, 4), one
   for the campaigns queue (``-c BENCH_SOAK_CAMPAIGN_CONCURRENCY``, half the cores; nice
   ``CAMPAIGNS_WORKER_NICE``), both ``--max-tasks-per-child=1000``, and beat with the
   database scheduler. Broker and cache: ``BENCH_SOAK_REDIS_URL``. Erasures have no grace
   period (``PRIVACY_ERASURE_GRACE_DAYS=0``) and the weekly contact cap is lifted
   (``CAMPAIGNS_MAX_MESSAGES_PER_WEEK``), so every campaign sends to everyone again.
3. The nightly jobs at an accelerated clock: once beat has written its default schedule
   into the database, every periodic task that runs less often than every
   ``BENCH_SOAK_NIGHTLY_SECONDS`` (60) is switched to that interval, as staff would in the
   admin ("Periodic tasks"); beat picks the change up within seconds. So expiry, maturing,
   tiers, birthdays, retention, personalisation and the daily triggers run about ten times
   in ten minutes, on the worker, beside everything else.
4. The load, all at once, for ``BENCH_SOAK_WARMUP`` (60 s) and then ``BENCH_SOAK_SECONDS``
   (600 s) measured:
   - tills: ``BENCH_SOAK_TILLS`` clients paced at ``BENCH_SOAK_TILL_RATE`` requests/s in
     total over HTTP with the integration key: purchases (2-5 lines, as bench.earn posts
     them), returns of one item of an earlier purchase, and reservations (each captured,
     released, or left to time out by beat's job);
   - members: ``BENCH_SOAK_BROWSERS`` logged-in members on keep-alive connections (bench.pages'
     clients), paced at ``BENCH_SOAK_PAGE_RATE`` pages/s in total, going round the member
     pages;
   - campaigns: a new campaign to every member with consent (no-op channel) launched as soon
     as the last one is done (and at least ``BENCH_SOAK_CAMPAIGN_EVERY`` seconds after its
     launch; 0), so something is sending throughout;
   - privacy: every ``BENCH_SOAK_PRIVACY_EVERY`` (60 s) an export (a browsing member) and an
     erasure (a member with history who does not browse), requested as staff would, built
     and carried out by the worker (the erasure by beat's due-erasures job).
   Paced latencies count from each request's scheduled start, so a stall cannot hide.
5. At the end the load stops, the last campaign and privacy requests get
   ``BENCH_SOAK_DRAIN`` (300 s) to finish, the processes stop, and the results are checked.

``errors`` = requests answered 5xx, with another unexpected status or not at all + ERROR or
CRITICAL lines in the workers', beat's and gunicorn's logs (a failed task, a killed worker) +
bench campaigns not done and privacy requests not done after the drain + the till's books
not matching its answers (every purchase answered 201 has one earn entry, every reservation
one row). ``invariants`` = ``rewards.invariants`` (I1, I2, I4, I6, lots = balance) for every
member with points, plus I3 (no purchase credited twice). Memory: RSS (``VmRSS``) of every
process at the start of the measured window (after the warm-up) and at its end, per unit:
gunicorn's master, gunicorn's workers (summed), each Celery worker's main process, each
Celery worker's pool (its children summed: they are recycled after 1000 tasks), beat.
``rss_growth`` = the largest (end - start) / start over those units.

The last line is exactly ``errors=<n> invariants=<ok|broken> rss_growth=<fraction>``.
Results: docs/benchmarks.md ("Soak: ten minutes of everything"), between the ``bench-soak``
markers (``BENCH_SOAK_DOCS=0``: print only).
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import platform
import random
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench import earn, fanout, pages

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get(
    "BENCH_SOAK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kundklubb_bench_soak"
)
# Not 13 (bench.earn's, which empties its broker queue at the end) nor another bench's.
REDIS_URL = os.environ.get("BENCH_SOAK_REDIS_URL", "redis://127.0.0.1:6379/15")
PORT = int(os.environ.get("BENCH_SOAK_PORT", "8280"))
VAR_DIR = Path(os.environ.get("BENCH_SOAK_VAR_DIR", str(ROOT / "var" / "bench-soak")))
SECONDS = float(os.environ.get("BENCH_SOAK_SECONDS", "600"))
WARMUP = float(os.environ.get("BENCH_SOAK_WARMUP", "60"))
DRAIN = float(os.environ.get("BENCH_SOAK_DRAIN", "300"))
TILLS = int(os.environ.get("BENCH_SOAK_TILLS", "4"))
TILL_RATE = float(os.environ.get("BENCH_SOAK_TILL_RATE", "20"))
TILL_MEMBERS = int(os.environ.get("BENCH_SOAK_TILL_MEMBERS", "200"))
BROWSERS = int(os.environ.get("BENCH_SOAK_BROWSERS", "4"))
PAGE_RATE = float(os.environ.get("BENCH_SOAK_PAGE_RATE", "20"))
HISTORY = int(os.environ.get("BENCH_SOAK_HISTORY", "40"))
BROWSE_MEMBERS = int(os.environ.get("BENCH_SOAK_BROWSE_MEMBERS", "16"))
PURCHASES = int(os.environ.get("BENCH_SOAK_PURCHASES", "40"))
CAMPAIGN_MEMBERS = int(os.environ.get("BENCH_SOAK_CAMPAIGN_MEMBERS", "20000"))
CAMPAIGN_EVERY = float(os.environ.get("BENCH_SOAK_CAMPAIGN_EVERY", "0"))
PRIVACY_EVERY = float(os.environ.get("BENCH_SOAK_PRIVACY_EVERY", "60"))
NIGHTLY_EVERY = int(os.environ.get("BENCH_SOAK_NIGHTLY_SECONDS", "60"))
CONCURRENCY = int(os.environ.get("BENCH_SOAK_CONCURRENCY", "4"))
CAMPAIGN_CONCURRENCY = int(
    os.environ.get("BENCH_SOAK_CAMPAIGN_CONCURRENCY", str(max(1, (os.cpu_count() or 1) // 2)))
)
WRITE_DOCS = os.environ.get("BENCH_SOAK_DOCS", "1") != "0"
MARK_START = "<!-- bench-soak:start -->"
MARK_END = "<!-- bench-soak:end -->"
TILL_POINTS = 100_000

# What the bench's processes get besides bench.pages' server environment (which copies this
# process's environment first): the broker, no API rate limit, erasure without grace, no
# weekly cap, the till's answers over "https" (the proxy's header) and gunicorn's own log.
EXTRA_ENV = {
    "CELERY_BROKER_URL": REDIS_URL,
    "API_RATE_LIMIT": "100000000/min",
    "PRIVACY_ERASURE_GRACE_DAYS": "0",
    "CAMPAIGNS_MAX_MESSAGES_PER_WEEK": "100000",
    "BENCH_PAGES_CACHE_KEY_PREFIX": "bench-soak",
    "BENCH_PAGES_PRIVATE_ROOT": str(VAR_DIR / "private"),
    "GUNICORN_CMD_ARGS": f"--error-logfile {VAR_DIR / 'gunicorn.log'}",
}

# bench.pages' and bench.fanout's functions read these module globals when called.
pages.DATABASE_URL = DATABASE_URL
pages.REDIS_URL = REDIS_URL
pages.PORT = PORT
pages.VAR_DIR = VAR_DIR
pages.HISTORY = HISTORY
fanout.DATABASE_URL = DATABASE_URL


def log(message: str) -> None:
    print(message, flush=True)


def loadavg() -> tuple[float, float, float]:
    return os.getloadavg()


def fmt_load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{n:.1f}" for n in load)


# --- the data -------------------------------------------------------------------------------


@dataclass
class Data:
    api_key: str
    till: earn.Fixture
    browse_sessions: list[str]
    export_members: list[int]
    erase_members: list[int]


def till_fixture() -> tuple[str, earn.Fixture]:
    """The store ``soak``, its integration key and members with available points."""
    from members.models import Store
    from members.services import api_key_create, member_create
    from rewards.ledger.points import points_adjust
    from rewards.models import Category

    store = Store.objects.create(code="soak", name="Soak")
    _key, secret = api_key_create(
        store=store, name="soak till", scopes=["purchases:write", "points:write"]
    )
    members = []
    for n in range(TILL_MEMBERS):
        member = member_create(
            first_name="Soak", last_name=f"Till {n}", join_channel="store", source="import"
        )
        points_adjust(
            member=member,
            points=TILL_POINTS,
            reason="bench.soak: points to reserve",
            actor=None,
            idempotency_key=f"soak-start-{member.pk}",
        )
        members.append((member.pk, member.membership_number))
    for code in earn.CATEGORIES:
        Category.objects.get_or_create(code=code, defaults={"name": code})
    rng = random.Random(12)
    skus = [(f"SOAK-{n:04d}", rng.choice(earn.CATEGORIES)) for n in range(earn.SKUS)]
    return secret, earn.Fixture(api_key=secret, store_id=store.pk, members=members, skus=skus)


def data_prepare() -> Data:
    started = time.perf_counter()
    fanout.database_recreate()
    pages.database_prepare()
    log(f"database migrated, static files collected in {time.perf_counter() - started:.0f} s")
    pages.django_setup()
    from django.db import connection, connections, transaction

    from members.models import Member

    browse_ids = pages.members_with_history(BROWSE_MEMBERS, PURCHASES)
    others = list(
        Member.objects.filter(erased_at__isnull=True, purchases__isnull=False)
        .exclude(pk__in=browse_ids)
        .distinct()
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    secret, till = till_fixture()
    with transaction.atomic(), connection.cursor() as cursor:
        fanout.seed_members(cursor, count=CAMPAIGN_MEMBERS, prefix="S")
    pages.database_analyze()
    sessions = pages.sessions_create(browse_ids)
    connections.close_all()
    log(
        f"data ready in {time.perf_counter() - started:.0f} s: {len(browse_ids)} browsing "
        f"members, {len(till.members)} till members, {CAMPAIGN_MEMBERS} campaign members, "
        f"{len(others)} members to erase"
    )
    return Data(
        api_key=secret,
        till=till,
        browse_sessions=sessions,
        export_members=browse_ids,
        erase_members=others,
    )


# --- the processes --------------------------------------------------------------------------


@dataclass
class Processes:
    server: subprocess.Popen[bytes]
    workers: dict[str, subprocess.Popen[bytes]]
    beat: subprocess.Popen[bytes]


def worker_env() -> dict[str, str]:
    return pages.server_env()


def processes_start() -> Processes:
    from config.celery import app

    app.control.purge()
    env = worker_env()
    workers = {}
    for label, concurrency, queue in (
        ("default", CONCURRENCY, "celery"),
        ("campaigns", CAMPAIGN_CONCURRENCY, "campaigns"),
    ):
        name = f"soak-{label}-{os.getpid()}@{platform.node()}"
        workers[name] = fanout.worker_start(
            env,
            concurrency,
            VAR_DIR / f"worker-{label}.log",
            name,
            extra=["-Q", queue, "--max-tasks-per-child=1000"],
        )
    beat_log = open(VAR_DIR / "beat.log", "ab")  # noqa: SIM115
    beat = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "config",
            "beat",
            "-l",
            "WARNING",
            "--scheduler",
            "django_celery_beat.schedulers:DatabaseScheduler",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=beat_log,
        stderr=beat_log,
    )
    server = pages.server_start()
    for name in workers:
        fanout.worker_wait_ready(app, name)
    return Processes(server=server, workers=workers, beat=beat)


def processes_stop(procs: Processes) -> None:
    pages.server_stop(procs.server)
    for worker in procs.workers.values():
        fanout.worker_stop(worker)
    fanout.worker_stop(procs.beat)


def nightly_accelerate() -> list[str]:
    """Every periodic task beat runs less often than every ``NIGHTLY_EVERY`` seconds, switched
    to that interval in the database, as staff would in the admin. Waits until beat has
    written its default schedule (it overwrites the entries it knows when it starts)."""
    from django.conf import settings
    from django.db import connections
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    names = set(settings.CELERY_BEAT_SCHEDULE)
    deadline = time.monotonic() + 60
    while set(PeriodicTask.objects.filter(name__in=names).values_list("name", flat=True)) != names:
        if time.monotonic() > deadline:
            raise RuntimeError("beat did not write its schedule")
        time.sleep(0.5)
    time.sleep(2)  # beat's start-up writes each entry once; let it finish
    every, _ = IntervalSchedule.objects.get_or_create(
        every=NIGHTLY_EVERY, period=IntervalSchedule.SECONDS
    )
    changed = []
    for task in PeriodicTask.objects.filter(name__in=names).select_related("interval"):
        if task.interval is not None and task.interval.every * _period(task.interval.period) <= (
            NIGHTLY_EVERY
        ):
            continue
        task.crontab = None
        task.interval = every
        task.save()  # the model's save marks the schedule changed for beat
        changed.append(task.name)
    connections.close_all()
    return sorted(changed)


def _period(period: str) -> int:
    return {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}.get(period, 1)


# --- memory ---------------------------------------------------------------------------------


def _status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def rss_kib(pid: int) -> int:
    value = _status(pid).get("VmRSS", "0 kB").split()[0]
    return int(value)


def children(pid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and _status(int(entry.name)).get("PPid", "").strip() == str(pid):
            found.append(int(entry.name))
    return sorted(found)


def memory_units(procs: Processes) -> dict[str, tuple[int, list[int]]]:
    """RSS (KiB) per unit, with the pids it summed."""
    units: dict[str, tuple[int, list[int]]] = {}

    def add(name: str, pids: list[int]) -> None:
        units[name] = (sum(rss_kib(pid) for pid in pids), pids)

    add("gunicorn master", [procs.server.pid])
    add("gunicorn workers", children(procs.server.pid))
    for name, worker in procs.workers.items():
        label = name.split("-")[1]
        add(f"celery {label} main", [worker.pid])
        add(f"celery {label} pool", children(worker.pid))
    add("beat", [procs.beat.pid])
    return units


# --- the load -------------------------------------------------------------------------------


@dataclass
class Part:
    """One kind of work: latencies in the measured window, counts and errors overall."""

    name: str
    latencies: list[float] = field(default_factory=list)
    done: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, latency: float, measured: bool) -> None:
        with self.lock:
            self.done += 1
            if measured:
                self.latencies.append(latency)

    def error(self, what: str, example: str = "") -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1
            if example and len(self.examples) < 5:
                self.examples.append(example)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def p(self, pct: float) -> float:
        return earn.percentile(self.latencies, pct) * 1000


class Clock:
    """The run's phases: warm-up until ``measure_from``, measured until ``measure_to``."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.measure_from = float("inf")
        self.measure_to = float("inf")

    def measured(self, began: float) -> bool:
        return self.measure_from <= began < self.measure_to


def paced(rate: float, clock: Clock, offset: float) -> Callable[[], float | None]:
    """The next scheduled start on a fixed schedule of ``rate`` per second (sleeping until
    it), or None once the clock stops. A client that falls more than 2 s behind skips
    ahead (its late requests still count from their scheduled start)."""
    interval = 1.0 / rate
    scheduled = time.perf_counter() + offset * interval

    def next_start() -> float | None:
        nonlocal scheduled
        now = time.perf_counter()
        if scheduled > now:
            clock.stop.wait(scheduled - now)
        elif now - scheduled > 2.0:
            scheduled = now
        if clock.stop.is_set():
            return None
        began = scheduled
        scheduled += interval
        return began

    return next_start


TILL_HEADERS = {"Content-Type": "application/json", "X-Forwarded-Proto": "https"}
TILL_OK = {"purchase": 201, "return": 201, "reserve": 201, "capture": 200, "release": 200}


@dataclass
class TillBooks:
    """What the till's answers say was recorded, to compare with the database."""

    purchases: int = 0
    reservations: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def till_client(
    index: int,
    data: Data,
    clock: Clock,
    parts: dict[str, Part],
    books: TillBooks,
    run_id: str,
) -> None:
    rng = random.Random(f"soak-till-{run_id}-{index}")
    headers = {**TILL_HEADERS, "Authorization": f"Api-Key {data.api_key}"}
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    next_start = paced(TILL_RATE / TILLS, clock, index / TILLS)
    returnable: list[str] = []
    n = 0

    def post(kind: str, path: str, body: dict[str, Any], began: float) -> dict[str, Any] | None:
        nonlocal conn
        try:
            conn.request("POST", path, json.dumps(body), headers)
            response = conn.getresponse()
            answer = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
            parts[kind].error("no answer", f"{kind}: {exc!r}")
            return None
        if status != TILL_OK[kind]:
            parts[kind].error(str(status), f"{kind} {path}: {status} {answer[:200]!r}")
            return None
        parts[kind].ok(time.perf_counter() - began, clock.measured(began))
        result: dict[str, Any] = json.loads(answer)
        return result

    while (began := next_start()) is not None:
        n += 1
        roll = rng.random()
        if roll < 0.2 and returnable:
            receipt = returnable.pop(rng.randrange(len(returnable)))
            post(
                "return",
                f"/api/v1/purchases/{receipt}/returns/",
                {"return_id": f"r-{receipt}", "lines": [{"line_no": 1, "quantity": 1}]},
                began,
            )
        elif roll < 0.4:
            member = rng.choice(data.till.members)
            key = f"soak-{run_id}-{index}-{n}"
            answer = post(
                "reserve",
                "/api/v1/points/reservations/",
                {
                    "member": {"membership_number": member[1]},
                    "points": rng.randint(1, 50),
                    "idempotency_key": f"{key}-reserve",
                    "timeout_seconds": 10,
                },
                began,
            )
            if answer is None:
                continue
            with books.lock:
                books.reservations += 1
            then = rng.random()
            reservation = answer["reservation_id"]
            # A third captured, a third released, the rest left to beat's timeout job.
            if then < 1 / 3:
                post(
                    "capture",
                    f"/api/v1/points/reservations/{reservation}/capture/",
                    {"points": max(1, answer["points"] - 1), "idempotency_key": f"{key}-cap"},
                    time.perf_counter(),
                )
            elif then < 2 / 3:
                post(
                    "release",
                    f"/api/v1/points/reservations/{reservation}/release/",
                    {"idempotency_key": f"{key}-rel"},
                    time.perf_counter(),
                )
        else:
            receipt = f"soak-{run_id}-{index}-{n}"
            body, _member = earn.purchase_body(data.till, rng, receipt)
            if post("purchase", "/api/v1/purchases/", body, began) is not None:
                returnable.append(receipt)
                with books.lock:
                    books.purchases += 1
    conn.close()


def browser_client(index: int, data: Data, clock: Clock, part: Part) -> None:
    browser = pages.Browser(data.browse_sessions[index % len(data.browse_sessions)])
    next_start = paced(PAGE_RATE / BROWSERS, clock, index / BROWSERS)
    n = index
    while (began := next_start()) is not None:
        _name, path = pages.PAGES[n % len(pages.PAGES)]
        n += 1
        try:
            status, body = browser.get(path)
        except (OSError, http.client.HTTPException) as exc:
            part.error("no answer", f"{path}: {exc!r}")
            continue
        if status != 200:
            part.error(str(status), f"{path}: {status} {body[:200]!r}")
            continue
        part.ok(time.perf_counter() - began, clock.measured(began))
    browser.close()


@dataclass
class Background:
    """Campaigns and privacy requests launched by the bench (ids, for the end)."""

    campaigns: list[int] = field(default_factory=list)
    exports: list[int] = field(default_factory=list)
    erasures: list[int] = field(default_factory=list)
    campaign_errors: list[str] = field(default_factory=list)


def campaign_loop(clock: Clock, bg: Background) -> None:
    """A new campaign as soon as the last is done and ``CAMPAIGN_EVERY`` has passed."""
    from django.db import connections

    from campaigns.authoring import campaign_launch
    from campaigns.models import Campaign

    try:
        while not clock.stop.is_set():
            launched = time.monotonic()
            campaign = fanout.campaign_make(f"Soak {len(bg.campaigns) + 1}")
            campaign_launch(campaign=campaign, actor=None)
            bg.campaigns.append(campaign.pk)
            while not clock.stop.is_set():
                status = Campaign.objects.filter(pk=campaign.pk).values_list("status", flat=True)
                if status[0] == Campaign.Status.DONE:
                    break
                clock.stop.wait(0.5)
            clock.stop.wait(max(0.0, launched + CAMPAIGN_EVERY - time.monotonic()))
    except Exception as exc:  # reported as an error; the run goes on
        bg.campaign_errors.append(repr(exc))
    finally:
        connections.close_all()


def privacy_loop(clock: Clock, bg: Background, data: Data) -> None:
    """An export and an erasure every ``PRIVACY_EVERY`` seconds, requested as staff would."""
    from django.db import connections

    from consent.models import PrivacyRequest
    from consent.services.erasure import privacy_erasure_request
    from consent.services.export import privacy_export_request
    from members.models import Member

    n = 0
    try:
        while not clock.stop.is_set():
            exporter = Member.objects.get(pk=data.export_members[n % len(data.export_members)])
            bg.exports.append(privacy_export_request(member=exporter, actor=None).pk)
            if n < len(data.erase_members):
                erased = Member.objects.get(pk=data.erase_members[n])
                request = privacy_erasure_request(
                    member=erased, actor=None, origin=PrivacyRequest.Origin.STAFF
                )
                bg.erasures.append(request.pk)
            n += 1
            clock.stop.wait(PRIVACY_EVERY)
    except Exception as exc:  # reported as an error; the run goes on
        bg.campaign_errors.append(f"privacy: {exc!r}")
    finally:
        connections.close_all()


# --- the end --------------------------------------------------------------------------------


def drain(bg: Background) -> None:
    """Wait (up to ``DRAIN``) until the bench's campaigns and privacy requests are done."""
    deadline = time.monotonic() + DRAIN
    with psycopg.connect(**pages.conninfo(), autocommit=True) as conn:
        while time.monotonic() < deadline:
            open_campaigns = conn.execute(
                "SELECT count(*) FROM campaigns_campaign WHERE id = ANY(%s::bigint[]) "
                "AND status <> 'done'",
                [bg.campaigns],
            ).fetchone()
            open_requests = conn.execute(
                "SELECT count(*) FROM consent_privacyrequest WHERE id = ANY(%s::bigint[]) "
                "AND status <> 'done'",
                [bg.exports + bg.erasures],
            ).fetchone()
            if not (open_campaigns and open_campaigns[0]) and not (
                open_requests and open_requests[0]
            ):
                return
            time.sleep(1)


@dataclass
class Outcome:
    stuck: list[str]
    campaign_seconds: list[float]
    deliveries: int
    privacy_seconds: dict[str, list[float]]


def outcome(bg: Background) -> Outcome:
    stuck: list[str] = []
    with psycopg.connect(**pages.conninfo()) as conn:
        rows = conn.execute(
            "SELECT id, status, extract(epoch FROM finished_at - launched_at) "
            "FROM campaigns_campaign WHERE id = ANY(%s::bigint[]) ORDER BY id",
            [bg.campaigns],
        ).fetchall()
        campaign_seconds = [float(r[2]) for r in rows if r[1] == "done" and r[2] is not None]
        stuck += [f"campaign {r[0]} {r[1]}" for r in rows if r[1] != "done"]
        sending = conn.execute(
            "SELECT id, name FROM campaigns_campaign WHERE status = 'sending' "
            "AND schedule_kind = 'once'"
        ).fetchall()
        stuck += [
            f"campaign {r[0]} {r[1]!r} still sending" for r in sending if r[0] not in bg.campaigns
        ]
        deliveries_row = conn.execute(
            "SELECT count(*) FROM campaigns_delivery WHERE campaign_id = ANY(%s::bigint[])",
            [bg.campaigns],
        ).fetchone()
        privacy_seconds: dict[str, list[float]] = {"export": [], "erasure": []}
        for kind, ids in (("export", bg.exports), ("erasure", bg.erasures)):
            for pk, status, seconds in conn.execute(
                "SELECT id, status, extract(epoch FROM completed_at - requested_at) "
                "FROM consent_privacyrequest WHERE id = ANY(%s::bigint[]) ORDER BY id",
                [ids],
            ).fetchall():
                if status == "done" and seconds is not None:
                    privacy_seconds[kind].append(float(seconds))
                else:
                    stuck.append(f"{kind} request {pk} {status}")
        open_requests = conn.execute(
            "SELECT id, kind, status FROM consent_privacyrequest "
            "WHERE status IN ('queued', 'processing') OR (status = 'scheduled' "
            "AND scheduled_for < now())"
        ).fetchall()
        stuck += [
            f"{r[1]} request {r[0]} {r[2]}"
            for r in open_requests
            if r[0] not in bg.exports + bg.erasures
        ]
    return Outcome(
        stuck=stuck,
        campaign_seconds=campaign_seconds,
        deliveries=deliveries_row[0] if deliveries_row else 0,
        privacy_seconds=privacy_seconds,
    )


LOG_ERROR = re.compile(r"\b(ERROR|CRITICAL)\b")


def log_errors() -> list[str]:
    """ERROR and CRITICAL lines in the workers', beat's and gunicorn's logs."""
    found = []
    for path in sorted(VAR_DIR.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if LOG_ERROR.search(line) and line[:1] in "[0123456789":
                found.append(f"{path.name}: {line[:300]}")
    return found


def books_check(books: TillBooks, store_id: int) -> tuple[list[str], list[str]]:
    """(errors, broken invariants): the till's answers against the database, then the
    ledger invariants for every member with points."""
    from django.db import connections

    from members.models import Member
    from rewards.invariants import ledger_violations, purchases_credited_twice
    from rewards.models import LedgerEntry, Purchase, Reservation

    errors = []
    earned = LedgerEntry.objects.filter(
        kind=LedgerEntry.Kind.EARN, purchase__store_id=store_id, purchase__member__isnull=False
    ).count()
    purchases = Purchase.objects.filter(store_id=store_id, member__isnull=False).count()
    if not books.purchases == purchases == earned:
        errors.append(
            f"the till was answered 201 for {books.purchases} purchases; the database has "
            f"{purchases} purchases and {earned} earn entries"
        )
    reservations = Reservation.objects.filter(store_id=store_id).count()
    if reservations != books.reservations:
        errors.append(
            f"the till was answered 201 for {books.reservations} reservations; "
            f"the database has {reservations}"
        )
    members = Member.objects.filter(ledger__isnull=False).distinct().values_list("pk", flat=True)
    broken = ledger_violations(member_ids=list(members)) + purchases_credited_twice()
    connections.close_all()
    return errors, broken


# --- the report -----------------------------------------------------------------------------


def report(
    *,
    summary: str,
    context: str,
    parts: list[Part],
    seconds: float,
    out: Outcome,
    memory: tuple[dict[str, tuple[int, list[int]]], dict[str, tuple[int, list[int]]]],
    error_lines: list[str],
) -> str:
    lines = [context, "", "| part | done in the window | rate | p50 | p99 | errors (whole run) |"]
    lines.append("| --- | --- | --- | --- | --- | --- |")
    for part in parts:
        lines.append(
            f"| {part.name} | {len(part.latencies)} | {len(part.latencies) / seconds:.1f}/s | "
            f"{part.p(50):.0f} ms | {part.p(99):.0f} ms | {part.error_count} |"
        )
    c = sorted(out.campaign_seconds)
    if c:
        lines.append(
            f"| campaigns (launch to done, {CAMPAIGN_MEMBERS} members + the demo's with "
            f"consent) | {len(c)} | {out.deliveries / max(1.0, sum(c)):.0f} deliveries/s "
            f"while sending | {earn.percentile(c, 50):.1f} s | {earn.percentile(c, 99):.1f} s "
            f"| - |"
        )
    for kind, values in out.privacy_seconds.items():
        if values:
            lines.append(
                f"| {kind}s (request to done) | {len(values)} | - | "
                f"{earn.percentile(values, 50):.1f} s | {earn.percentile(values, 99):.1f} s | - |"
            )
    lines += [
        "",
        "Till and page rows: the measured window (errors: the whole run); campaigns, exports "
        "and erasures: the whole run, warm-up and drain included.",
    ]
    start, end = memory
    lines += [
        "",
        "| process | RSS at the start (MB) | at the end (MB) | growth |",
        "| --- | --- | --- | --- |",
    ]
    for name, (kib, pids) in start.items():
        end_kib = end.get(name, (0, []))[0]
        growth = (end_kib - kib) / kib if kib else 0.0
        lines.append(
            f"| {name} ({len(pids)} process{'es' if len(pids) != 1 else ''}) | "
            f"{kib / 1024:.0f} | {end_kib / 1024:.0f} | {growth:+.3f} |"
        )
    if out.stuck or error_lines:
        lines += ["", "Errors:", ""]
        lines += [f"- {line}" for line in (out.stuck + error_lines)[:20]]
    lines += ["", f"Last line: `{summary}`"]
    return "\n".join(lines)


def rss_growth(
    start: dict[str, tuple[int, list[int]]], end: dict[str, tuple[int, list[int]]]
) -> float:
    growths = [
        (end[name][0] - kib) / kib for name, (kib, _pids) in start.items() if kib and name in end
    ]
    return max(growths, default=0.0)


def main() -> int:
    load_before = loadavg()
    log(
        f"bench.soak: {WARMUP:.0f} s warm-up + {SECONDS:.0f} s measured; {TILLS} tills at "
        f"{TILL_RATE:g}/s, {BROWSERS} members browsing at {PAGE_RATE:g}/s, a campaign to "
        f"{CAMPAIGN_MEMBERS} members at least every {CAMPAIGN_EVERY:.0f} s, an export and an "
        f"erasure every {PRIVACY_EVERY:.0f} s, the nightly jobs every {NIGHTLY_EVERY} s; "
        f"{pages.WORKERS} gunicorn workers x {pages.THREADS} threads, Celery -Q celery -c "
        f"{CONCURRENCY} and -Q campaigns -c {CAMPAIGN_CONCURRENCY}, beat; port {PORT}, "
        f"{REDIS_URL}; load average {fmt_load(load_before)} before"
    )
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    for old in VAR_DIR.glob("*.log"):
        old.unlink()
    os.environ.update(EXTRA_ENV)
    data = data_prepare()
    log(f"machine: {pages.machine()}")
    run_id = uuid.uuid4().hex[:6]
    parts = {kind: Part(f"till {kind}") for kind in TILL_OK}
    page_part = Part("member pages")
    books = TillBooks()
    clock = Clock()
    bg = Background()
    procs = processes_start()
    threads: list[threading.Thread] = []
    try:
        accelerated = nightly_accelerate()
        log(f"beat: every {NIGHTLY_EVERY} s: {', '.join(accelerated)}")
        pages.warm_up(data.browse_sessions)
        threads += [
            threading.Thread(target=till_client, args=(i, data, clock, parts, books, run_id))
            for i in range(TILLS)
        ]
        threads += [
            threading.Thread(target=browser_client, args=(i, data, clock, page_part))
            for i in range(BROWSERS)
        ]
        threads += [
            threading.Thread(target=campaign_loop, args=(clock, bg)),
            threading.Thread(target=privacy_loop, args=(clock, bg, data)),
        ]
        for thread in threads:
            thread.start()
        clock.stop.wait(WARMUP)
        mem_start = memory_units(procs)
        clock.measure_from = time.perf_counter()
        log(f"warm-up done; measuring {SECONDS:.0f} s (load average {fmt_load(loadavg())})")
        next_note = time.monotonic() + 60
        end_at = time.monotonic() + SECONDS
        while (left := end_at - time.monotonic()) > 0:
            clock.stop.wait(min(left, max(0.0, next_note - time.monotonic())))
            if time.monotonic() >= next_note:
                next_note += 60
                log(
                    f"  {SECONDS - max(0.0, end_at - time.monotonic()):.0f} s: "
                    + ", ".join(f"{p.name} {p.done}" for p in [*parts.values(), page_part])
                    + f"; {len(bg.campaigns)} campaigns, load average {fmt_load(loadavg())}"
                )
        clock.measure_to = time.perf_counter()
        mem_end = memory_units(procs)
        clock.stop.set()
        for thread in threads:
            thread.join()
        drain(bg)
    finally:
        clock.stop.set()
        for thread in threads:
            thread.join()
        processes_stop(procs)
        earn.REDIS_URL = REDIS_URL
        earn.broker_queue_drop()
    load_after = loadavg()
    seconds = clock.measure_to - clock.measure_from
    out = outcome(bg)
    book_errors, broken = books_check(books, data.till.store_id)
    error_lines = log_errors() + bg.campaign_errors + book_errors
    all_parts = [*parts.values(), page_part]
    for part in all_parts:
        log(
            f"{part.name}: {len(part.latencies) / seconds:.1f}/s, n={len(part.latencies)}, "
            f"p50 {part.p(50):.0f} ms, p99 {part.p(99):.0f} ms"
            + (f", errors {part.errors} {part.examples}" if part.errors else "")
        )
    log(
        f"campaigns: {len(bg.campaigns)}, launch to done "
        + ", ".join(f"{s:.0f}" for s in out.campaign_seconds)
        + f" s; {out.deliveries} deliveries"
    )
    for kind, values in out.privacy_seconds.items():
        log(
            f"{kind}s: {len(values)}, request to done "
            + ", ".join(f"{s:.1f}" for s in values)
            + " s"
        )
    for name, (kib, pids) in mem_start.items():
        log(
            f"RSS {name} {pids}: {kib / 1024:.0f} MB -> "
            f"{mem_end[name][0] / 1024:.0f} MB {mem_end[name][1]}"
        )
    for line in out.stuck + error_lines:
        log(f"error: {line}")
    for line in broken[:20]:
        log(f"broken: {line}")
    log(f"load average {fmt_load(load_after)} after (other processes share these CPUs)")
    errors = sum(p.error_count for p in all_parts) + len(out.stuck) + len(error_lines)
    growth = rss_growth(mem_start, mem_end)
    summary = f"errors={errors} invariants={'broken' if broken else 'ok'} rss_growth={growth:.2f}"
    if WRITE_DOCS:
        when = datetime.datetime.now(datetime.UTC).strftime("%d %b %Y %H:%M UTC")
        context = (
            f"Last `make bench-soak` run, {when}: {pages.machine()}; load average "
            f"{fmt_load(load_before)} before and {fmt_load(load_after)} after (1 / 5 / 15 "
            f"min). {WARMUP:.0f} s warm-up, {seconds:.0f} s measured; {TILLS} tills at "
            f"{TILL_RATE:g} requests/s, {BROWSERS} members at {PAGE_RATE:g} pages/s, "
            f"{len(bg.campaigns)} campaigns, {len(bg.exports)} exports and "
            f"{len(bg.erasures)} erasures, the nightly jobs every {NIGHTLY_EVERY} s; "
            f"run {run_id}."
        )
        text = report(
            summary=summary,
            context=context,
            parts=all_parts,
            seconds=seconds,
            out=out,
            memory=(mem_start, mem_end),
            error_lines=error_lines,
        )
        pages.DOCS, pages.MARK_START, pages.MARK_END = pages.DOCS, MARK_START, MARK_END
        pages.docs_write(text)
    log(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
