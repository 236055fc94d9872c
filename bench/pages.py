"""Benchmark: the member pages under /mina-sidor/, against a page that reads no member data.

    python -m bench.pages            (make bench-pages)

1. Migrates a benchmark database (``BENCH_PAGES_DATABASE_URL``, created if missing) and
   loads the demo's configuration and a year of history for ``BENCH_PAGES_HISTORY``
   members (``campaigns.demo.demo_load``: catalogue, tiers, challenges, campaigns with
   offers, vouchers, consent, personalisation), once.
2. Tops up ``BENCH_PAGES_MEMBERS`` of those members (each with a login) to
   ``BENCH_PAGES_PURCHASES`` purchases spread over the last year, through
   ``rewards.purchases.recording.purchase_record`` (their ledger, lots and timeline as a till makes
   them); matures due points and re-evaluates tiers. Then a fresh database session per
   member: every client is a different logged-in member.
3. Starts gunicorn with the production settings (``config.settings.production``; the
   clients send ``X-Forwarded-Proto: https`` as the TLS proxy would) in the shape
   docs/deploy.md recommends: cores + 1 gthread workers x 3 threads, keep-alive, each
   worker listening on its own ``SO_REUSEPORT`` socket.
4. For 2 and for 8 concurrent clients (``BENCH_PAGES_CONCURRENCY``), each page in turn gets a
   window of ``BENCH_PAGES_SECONDS`` with every client sending GETs back to back over its
   own keep-alive connection, with its own session and cookie jar. The baseline,
   ``/offline/`` (anonymous: no session, no member), is measured at the start, the middle
   and the end of each concurrency's pass; its rate is their mean, so it shares whatever
   else the machine is doing. The same page for a logged-in member (the floor: the session,
   the user, CSRF and the member's navigation, no member data) is measured after the first
   baseline window and reported beside the pages, outside ``pages_min_ratio``.

Each page's ratio is its requests/s over the baseline's at the same concurrency. The last
line is exactly ``pages_min_ratio=<lowest ratio at 8 clients> p99_2_ms=<worst p99 at 2>
p99_8_ms=<worst p99 at 8>``. The run writes its table into docs/benchmarks.md ("Member
pages"), between the ``bench-pages`` markers (``BENCH_PAGES_DOCS=0``: print only).
"""

from __future__ import annotations

import datetime
import http.client
import os
import platform
import random
import re
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
    "BENCH_PAGES_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kundklubb_bench_pages"
)
REDIS_URL = os.environ.get("BENCH_PAGES_REDIS_URL", "redis://127.0.0.1:6379/12")
PORT = int(os.environ.get("BENCH_PAGES_PORT", "8260"))
# docs/deploy.md's recommendation: gthread workers, one more than the cores, three threads.
WORKERS = int(os.environ.get("BENCH_PAGES_WORKERS", str((os.cpu_count() or 1) + 1)))
THREADS = int(os.environ.get("BENCH_PAGES_THREADS", "3"))
# Keep-alive, as the clients and a load balancer's upstream connections are: gunicorn's
# default of 1000 connections per worker (docs/deploy.md). With ``--worker-connections`` equal
# to ``--threads`` (the first version of this bench, like bench.earn) gthread keeps no
# connection alive (it allows worker-connections - threads idle ones) and answers every
# request with "Connection: close". ``--reuse-port`` gives every worker its own listening
# socket and the kernel spreads the connections over them, instead of whichever worker
# wakes first accepting most of them; ``balance`` then evens out what hashing left uneven,
# and the bench logs how each window's connections fell.
WORKER_CONNECTIONS = int(os.environ.get("BENCH_PAGES_WORKER_CONNECTIONS", "1000"))
KEEP_ALIVE = int(os.environ.get("BENCH_PAGES_KEEP_ALIVE", "75"))
CONCURRENCY = [int(c) for c in os.environ.get("BENCH_PAGES_CONCURRENCY", "2,8").split(",")]
SECONDS = float(os.environ.get("BENCH_PAGES_SECONDS", "4"))
WARMUP = float(os.environ.get("BENCH_PAGES_WARMUP", "0.5"))
HISTORY = int(os.environ.get("BENCH_PAGES_HISTORY", "40"))
MEMBERS = int(os.environ.get("BENCH_PAGES_MEMBERS", "16"))
PURCHASES = int(os.environ.get("BENCH_PAGES_PURCHASES", "80"))
VAR_DIR = Path(os.environ.get("BENCH_PAGES_VAR_DIR", str(ROOT / "var" / "bench-pages")))
WRITE_DOCS = os.environ.get("BENCH_PAGES_DOCS", "1") != "0"
# One key for the whole run: the sessions made here carry a hash signed with it.
SECRET_KEY = os.environ.get("BENCH_PAGES_SECRET_KEY") or "bench-pages-" + secrets.token_hex(24)

BASELINE = ("offline (baseline)", "/offline/")
# The same page for a logged-in member: what every member page costs before it reads any of
# the member's data (the session, the user, CSRF, the member's navigation). Reported beside
# the pages as their floor; not one of them, so not in pages_min_ratio.
FLOOR = ("offline, logged in (floor)", "/offline/")
PAGES = [
    ("Mina sidor", "/mina-sidor/"),
    ("points", "/mina-sidor/poang/"),
    ("card", "/mina-sidor/kort/"),
    ("offers", "/mina-sidor/erbjudanden/"),
    ("rewards", "/mina-sidor/beloningar/"),
    ("vouchers", "/mina-sidor/vouchers/"),
    ("challenges", "/mina-sidor/utmaningar/"),
    ("Mina data", "/mina-sidor/mina-data/"),
    ("preference centre", "/mina-sidor/installningar/"),
]
DOCS = ROOT / "docs" / "benchmarks.md"
MARK_START = "<!-- bench-pages:start -->"
MARK_END = "<!-- bench-pages:end -->"


def log(message: str) -> None:
    print(message, flush=True)


def server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": SECRET_KEY,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL,
            "CACHE_KEY_PREFIX": os.environ.get("BENCH_PAGES_CACHE_KEY_PREFIX", "bench-pages"),
            "EMAIL_URL": "consolemail://",
            "LOG_LEVEL": "WARNING",
            "PRIVATE_ROOT": os.environ.get("BENCH_PAGES_PRIVATE_ROOT", str(VAR_DIR / "private")),
            # collectstatic's hashed files (WhiteNoise's manifest) for this run's server
            "VAR_DIR": str(VAR_DIR),
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
    for command in (["migrate"], ["collectstatic", "--clear"]):
        subprocess.run(
            [sys.executable, "manage.py", *command, "--no-input", "-v", "0"],
            cwd=ROOT,
            env=server_env(),
            check=True,
        )


def database_analyze() -> None:
    """Fresh planner statistics for the loaded history. Production's autovacuum keeps them;
    a test server may run without it, and then the planner guesses a handful of rows per
    member (one purchase-line query took 4 ms instead of 0.1 on a never-analysed copy)."""
    with psycopg.connect(**conninfo(), autocommit=True) as conn:
        conn.execute("ANALYZE")


# --- the members ----------------------------------------------------------------------------


def django_setup() -> None:
    os.environ.update(server_env())
    import django

    django.setup()


def members_with_history(count: int, purchases: int) -> list[int]:
    """``count`` demo members with a login and a year of history, each topped up to
    ``purchases`` purchases over the last 365 days. Returns their member ids."""
    from campaigns.demo import demo_load, seed_environment
    from members.models import Member, Store
    from rewards.ledger.expiry import points_mature_due
    from rewards.loyalty.tiers import tiers_reevaluate
    from rewards.models import Product, Purchase
    from rewards.purchases.recording import purchase_record
    from rewards.purchases.types import LineInput

    started = time.perf_counter()
    summary = demo_load(members=HISTORY, history=HISTORY, log=log)
    if summary.history_loaded:
        log(f"demo history for {HISTORY} members loaded in {summary.seconds:.1f} s")
    ids = list(
        Member.objects.filter(user__isnull=False, erased_at__isnull=True, purchases__isnull=False)
        .distinct()
        .order_by("pk")
        .values_list("pk", flat=True)[:count]
    )
    if len(ids) < count:
        raise RuntimeError(f"only {len(ids)} demo members with history; raise BENCH_PAGES_HISTORY")
    products = list(Product.objects.select_related("category").order_by("sku")[:200])
    stores = list(Store.objects.filter(kind=Store.Kind.STORE).order_by("pk"))
    now = datetime.datetime.now(datetime.UTC)
    added = 0
    with seed_environment():
        for member in Member.objects.filter(pk__in=ids).order_by("pk"):
            have = Purchase.objects.filter(member=member).count()
            rng = random.Random(f"bench-pages:{member.pk}")
            for n in range(have, purchases):
                lines = [
                    LineInput(
                        sku=p.sku,
                        quantity=rng.randint(1, 2),
                        unit_price_ore=rng.randint(20, 900) * 100,
                        name=p.name,
                        category=p.category.code if p.category else "",
                    )
                    for p in rng.sample(products, rng.randint(1, 4))
                ]
                purchase_record(
                    store=rng.choice(stores),
                    receipt_id=f"bench-pages-{member.pk}-{n}",
                    member=member,
                    total_ore=sum(ln.quantity * ln.unit_price_ore for ln in lines),
                    purchased_at=now - datetime.timedelta(days=rng.uniform(1, 364)),
                    lines=lines,
                )
                added += 1
        if added:
            points_mature_due()
            tiers_reevaluate()
    if added:
        log(f"{added} purchases added in {time.perf_counter() - started:.1f} s")
    return ids


def sessions_create(member_ids: list[int]) -> list[str]:
    """A new database session per member, as a log-in makes (its session key)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.models import Session
    from django.db import connections

    from members.models import Member

    Session.objects.filter(expire_date__lt=datetime.datetime.now(datetime.UTC)).delete()
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    keys = []
    for member in Member.objects.filter(pk__in=member_ids).select_related("user").order_by("pk"):
        user = member.user
        assert user is not None
        session = store_class()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "members.auth.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys.append(session.session_key)
    connections.close_all()
    return keys


# --- the server -----------------------------------------------------------------------------


def server_start() -> subprocess.Popen[bytes]:
    gunicorn = ROOT / ".venv/bin/gunicorn"
    cmd = [
        str(gunicorn) if gunicorn.exists() else "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{PORT}",
        "--worker-class",
        "gthread",
        "--workers",
        str(WORKERS),
        "--threads",
        str(THREADS),
        "--worker-connections",
        str(WORKER_CONNECTIONS),
        "--keep-alive",
        str(KEEP_ALIVE),
        "--reuse-port",
        "--timeout",
        "30",
        "--forwarded-allow-ips",
        "*",
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


# --- the clients ----------------------------------------------------------------------------

COOKIE = re.compile(r"^\s*([^=;\s]+)=([^;]*)")


class Browser:
    """One member's keep-alive connection and cookie jar (session, CSRF, language)."""

    def __init__(self, session_key: str | None) -> None:
        self.cookies: dict[str, str] = {"sessionid": session_key} if session_key else {}
        self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        self.reconnects = 0

    def connect(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        self.conn.connect()

    def port(self) -> int:
        sock = self.conn.sock
        return int(sock.getsockname()[1]) if sock is not None else 0

    def get(self, path: str) -> tuple[int, bytes]:
        headers = {
            "Host": "127.0.0.1",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "10.0.0.1",
            "Accept-Language": "sv",
            "User-Agent": "bench.pages",
        }
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            self.conn.request("GET", path, headers=headers)
            response = self.conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            # gunicorn closed the keep-alive connection (a restart): reconnect, and count it.
            self.reconnects += 1
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
            self.conn.request("GET", path, headers=headers)
            response = self.conn.getresponse()
            body = response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            match = COOKIE.match(header)
            if match:
                self.cookies[match.group(1)] = match.group(2)
        return response.status, body

    def close(self) -> None:
        self.conn.close()


@dataclass
class Result:
    name: str
    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def p(self, pct: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))] * 1000


def window(path: str, browsers: list[Browser], name: str) -> Result:
    result = Result(name=name, clients=len(browsers), seconds=SECONDS)
    lock = threading.Lock()
    start = time.perf_counter() + 0.05
    measure_from = start + WARMUP
    stop_at = measure_from + SECONDS

    def client(browser: Browser) -> None:
        time.sleep(max(0.0, start - time.perf_counter()))
        latencies: list[float] = []
        errors: dict[int, int] = {}
        while True:
            began = time.perf_counter()
            if began >= stop_at:
                break
            try:
                status, _body = browser.get(path)
            except (OSError, http.client.HTTPException):
                status = 0
            done = time.perf_counter()
            if began >= measure_from:
                if status == 200:
                    latencies.append(done - began)
                else:
                    errors[status] = errors.get(status, 0) + 1
        with lock:
            result.latencies += latencies
            for status, count in errors.items():
                result.errors[status] = result.errors.get(status, 0) + count

    threads = [threading.Thread(target=client, args=(b,)) for b in browsers]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, measure_from - time.perf_counter()))
    spread = connections_by_worker(browsers)
    for thread in threads:
        thread.join()
    reconnects = sum(b.reconnects for b in browsers)
    for browser in browsers:
        browser.reconnects = 0
    log(
        f"  {name:<20} {len(browsers)} clients: {result.rate:6.0f}/s  "
        f"p50 {result.p(50):6.1f} ms  p99 {result.p(99):6.1f} ms  "
        f"connections per worker {spread or '?'}"
        + (f"  reconnects {reconnects}" if reconnects else "")
        + (f"  errors {result.errors}" if result.errors else "")
    )
    return result


def workers_by_client_port() -> dict[int, str]:
    """The gunicorn worker (pid) holding each established connection, by the client's port."""
    try:
        out = subprocess.run(
            ["ss", "-tnpH", "state", "established", f"( sport = :{PORT} )"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    found = {}
    for line in out.splitlines():
        parts = line.split()
        pid = re.search(r"pid=(\d+)", line)
        if len(parts) >= 4 and pid:
            found[int(parts[3].rsplit(":", 1)[1])] = pid.group(1)
    return found


def connections_by_worker(browsers: list[Browser]) -> list[int]:
    """How many of these clients' connections each worker holds, most first."""
    owners = workers_by_client_port()
    counts: dict[str, int] = {}
    for browser in browsers:
        owner = owners.get(browser.port(), "?")
        counts[owner] = counts.get(owner, 0) + 1
    return sorted(counts.values(), reverse=True)


def balance(browsers: list[Browser]) -> None:
    """Spread the clients' connections evenly over the workers, as a proxy's pool of
    upstream connections spreads over them in the long run: a connection on a worker that
    holds more than its share is opened anew until the kernel puts it elsewhere. (Eight
    connections hashed over three sockets often fall 5/2/1, and one worker process, one
    core, then serves most of the clients.)"""
    share = -(-len(browsers) // WORKERS)
    for browser in browsers:
        browser.connect()
    for _attempt in range(200):
        time.sleep(0.02)
        owners = workers_by_client_port()
        by_worker: dict[str, list[Browser]] = {}
        for browser in browsers:
            by_worker.setdefault(owners.get(browser.port(), "?"), []).append(browser)
        excess = [b for worker, held in by_worker.items() for b in held[share:] if worker != "?"]
        waiting = by_worker.get("?", [])
        if not excess and not waiting:
            return
        for browser in excess:
            browser.connect()
    log(f"  connections not balanced: {connections_by_worker(browsers)}")


def prime(browsers: list[Browser]) -> None:
    """One request on every new connection, all at once. A gthread worker hands a connection
    it accepts straight to a thread, which then waits for the first request: the members'
    fresh, still silent connections held every thread of a worker while the first baseline
    window ran, and that window measured a third of the baseline's rate (0 requests in a
    short run). A used connection waits in the worker's poller instead, as a proxy's pooled
    upstream connections do."""
    threads = [threading.Thread(target=b.get, args=(BASELINE[1],)) for b in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def warm_up(session_keys: list[str]) -> None:
    """Every page a few times on fresh connections, so each worker process has imported,
    connected and compiled its templates before the timed windows."""
    for _ in range(WORKERS * 3):
        for key in session_keys[:2]:
            browser = Browser(key)
            for _name, path in [BASELINE, *PAGES]:
                status, body = browser.get(path)
                if status != 200:
                    raise RuntimeError(f"GET {path}: HTTP {status} {body[:200]!r}")
            browser.close()


@dataclass
class Pass:
    clients: int
    baseline: list[Result]
    floor: Result
    pages: list[Result]

    @property
    def baseline_rate(self) -> float:
        return sum(r.rate for r in self.baseline) / len(self.baseline)

    def ratio(self, page: Result) -> float:
        return page.rate / self.baseline_rate


def run_pass(clients: int, session_keys: list[str]) -> Pass:
    log(f"{clients} clients:")
    anonymous = [Browser(None) for _ in range(clients)]
    members = [Browser(session_keys[i % len(session_keys)]) for i in range(clients)]
    balance(anonymous)
    balance(members)
    prime(anonymous + members)
    baseline = [window(BASELINE[1], anonymous, BASELINE[0])]
    floor = window(FLOOR[1], members, FLOOR[0])
    pages = []
    middle = len(PAGES) // 2
    for index, (name, path) in enumerate(PAGES):
        if index == middle:
            baseline.append(window(BASELINE[1], anonymous, BASELINE[0]))
        pages.append(window(path, members, name))
    baseline.append(window(BASELINE[1], anonymous, BASELINE[0]))
    for browser in anonymous + members:
        browser.close()
    return Pass(clients=clients, baseline=baseline, floor=floor, pages=pages)


# --- the report -----------------------------------------------------------------------------


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
        row = conn.execute("SHOW server_version").fetchone()
    pg = row[0] if row else "?"
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, "
        f"PostgreSQL {pg}, {platform.system()} {platform.release()}"
    )


def report(passes: list[Pass], *, summary: str, context: str) -> str:
    by_clients = {p.clients: p for p in passes}
    lines = [context, ""]
    head = "| page |"
    rule = "| --- |"
    for p in passes:
        head += f" {p.clients} clients req/s | p50 / p99 ms | ratio |"
        rule += " --- | --- | --- |"
    lines += [head, rule]
    row = f"| {BASELINE[1]} (anonymous) |"
    for p in passes:
        samples = ", ".join(f"{r.rate:.0f}" for r in p.baseline)
        worst = max(r.p(99) for r in p.baseline)
        row += f" {p.baseline_rate:.0f} ({samples}) | p99 {worst:.0f} | 1 |"
    lines.append(row)
    row = f"| {FLOOR[1]} logged in (the floor, not a member page) |"
    for p in passes:
        floor = p.floor
        row += f" {floor.rate:.0f} | {floor.p(50):.0f} / {floor.p(99):.0f} | {p.ratio(floor):.2f} |"
    lines.append(row)
    for index, (name, path) in enumerate(PAGES):
        row = f"| {name} `{path}` |"
        for p in passes:
            page = by_clients[p.clients].pages[index]
            row += f" {page.rate:.0f} | {page.p(50):.0f} / {page.p(99):.0f} | {p.ratio(page):.2f} |"
        lines.append(row)
    lines += ["", f"Last line: `{summary}`"]
    return "\n".join(lines)


def docs_write(text: str) -> None:
    content = DOCS.read_text()
    if MARK_START not in content or MARK_END not in content:
        log(f"{DOCS}: no {MARK_START} markers; not written")
        return
    before, rest = content.split(MARK_START, 1)
    _old, after = rest.split(MARK_END, 1)
    DOCS.write_text(f"{before}{MARK_START}\n{text}\n{MARK_END}{after}")
    log(f"results written to {DOCS.relative_to(ROOT)}")


def main() -> int:
    load_before = os.getloadavg()
    log(
        f"bench.pages: {WORKERS} gunicorn gthread workers x {THREADS} threads "
        f"(at most {WORKER_CONNECTIONS} connections each, keep-alive {KEEP_ALIVE} s, "
        f"reuse-port), clients {CONCURRENCY}, "
        f"{SECONDS:.0f} s per page, {MEMBERS} members with {PURCHASES} purchases, port {PORT}, "
        f"load average {load_before[0]:.1f} before"
    )
    database_prepare()
    django_setup()
    member_ids = members_with_history(MEMBERS, PURCHASES)
    database_analyze()
    session_keys = sessions_create(member_ids)
    log(f"machine: {machine()}")
    proc = server_start()
    try:
        warm_up(session_keys)
        passes = [run_pass(clients, session_keys) for clients in CONCURRENCY]
    finally:
        server_stop(proc)
    load_after = os.getloadavg()
    log(f"load average {load_after[0]:.1f} after (other processes share these CPUs)")
    failed = [
        (p.clients, r.name, r.errors)
        for p in passes
        for r in [*p.baseline, p.floor, *p.pages]
        if r.errors or not r.latencies
    ]
    if failed:
        log(f"requests failed: {failed}")
        return 1
    top, low = max(CONCURRENCY), min(CONCURRENCY)
    by_clients = {p.clients: p for p in passes}
    min_ratio = min(by_clients[top].ratio(r) for r in by_clients[top].pages)
    p99_low = max(r.p(99) for r in by_clients[low].pages)
    p99_top = max(r.p(99) for r in by_clients[top].pages)
    summary = (
        f"pages_min_ratio={min_ratio:.2f} p99_{low}_ms={p99_low:.0f} p99_{top}_ms={p99_top:.0f}"
    )
    if WRITE_DOCS:
        when = datetime.datetime.now(datetime.UTC).strftime("%d %b %Y %H:%M UTC")
        context = (
            f"Last `make bench-pages` run, {when}: {machine()}; load average "
            f"{load_before[0]:.1f} / {load_before[1]:.1f} / {load_before[2]:.1f} before and "
            f"{load_after[0]:.1f} / {load_after[1]:.1f} / {load_after[2]:.1f} after "
            f"(1 / 5 / 15 min). {WORKERS} gthread workers x {THREADS} threads (keep-alive, "
            f"reuse-port), "
            f"{len(session_keys)} members with {PURCHASES} purchases each, "
            f"{SECONDS:.0f} s per page and concurrency; run {uuid.uuid4().hex[:6]}."
        )
        docs_write(report(passes, summary=summary, context=context))
    log(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
