"""Benchmark: 50 members check in at the door at once (issue 14, docs/desk.md).

    python -m bench.checkin          (make bench-checkin)

The same set-up as ``make bench-pages`` (``bench.pages``: a benchmark database with the
demo's configuration and history, production settings, gunicorn in docs/deploy.md's shape),
plus a real Celery worker, as the check-in's timeline consumers run in it. Every member has
agreed to personal offers and the nightly personalisation has run, so each has a next best
offer to be shown.

Each run opens a new store (a fresh door poster: nobody has visited it today). Then
``BENCH_CHECKIN_MEMBERS`` (50) clients, each a different logged-in member on a fresh
connection, released together, do what a phone does with the poster's QR code: GET the
address, POST the page's form (``static/js/door.js`` sends it), follow the redirect to the
welcome page. A member's time runs from the first request until the welcome page with the
offer has arrived. Before that, the same clients GET ``/offline/`` together: the baseline,
what 50 simultaneous requests cost this machine at all.

The last line is exactly ``checkins=<n> checkin_p95_ms=<n>`` (check-ins that ended on a
welcome page with an offer; the 95th percentile of their times). The figures go into
docs/benchmarks.md ("Door check-in"), between the ``bench-checkin`` markers
(``BENCH_CHECKIN_DOCS=0``: print only).
"""

from __future__ import annotations

import datetime
import os
import re
import statistics
import sys
import threading
import time
import urllib.parse
from pathlib import Path

os.environ.setdefault(
    "BENCH_PAGES_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/kundklubb_bench_checkin"
)
os.environ.setdefault("BENCH_PAGES_REDIS_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("BENCH_PAGES_PORT", "8261")
os.environ.setdefault("BENCH_PAGES_CACHE_KEY_PREFIX", "bench-checkin")
# Members with a login and history: at least as many as check in at once.
os.environ.setdefault("BENCH_PAGES_HISTORY", os.environ.get("BENCH_CHECKIN_HISTORY", "60"))
os.environ.setdefault(
    "BENCH_PAGES_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "bench-checkin")
)

from bench import pages as base
from bench.fanout import worker_name, worker_start, worker_stop, worker_wait_ready

MEMBERS = int(os.environ.get("BENCH_CHECKIN_MEMBERS", "50"))
PURCHASES = int(os.environ.get("BENCH_CHECKIN_PURCHASES", "6"))
WORKER_CONCURRENCY = int(os.environ.get("BENCH_CHECKIN_WORKER_CONCURRENCY", "2"))
WRITE_DOCS = os.environ.get("BENCH_CHECKIN_DOCS", "1") != "0"
DOCS = base.ROOT / "docs" / "benchmarks.md"
MARK_START = "<!-- bench-checkin:start -->"
MARK_END = "<!-- bench-checkin:end -->"
CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
log = base.log


class Phone(base.Browser):
    """A member's phone: ``bench.pages.Browser`` that can also send the check-in form."""

    def post_form(self, path: str, fields: dict[str, str]) -> tuple[int, str]:
        body = urllib.parse.urlencode(fields)
        headers = {
            "Host": "127.0.0.1",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-For": "10.0.0.1",
            "Origin": "https://127.0.0.1",
            "Referer": f"https://127.0.0.1{path}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept-Language": "sv",
            "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()),
        }
        self.conn.request("POST", path, body=body, headers=headers)
        response = self.conn.getresponse()
        response.read()
        for header in response.headers.get_all("Set-Cookie") or []:
            match = base.COOKIE.match(header)
            if match:
                self.cookies[match.group(1)] = match.group(2)
        location = response.headers.get("Location", "")
        return response.status, urllib.parse.urlsplit(location).path + (
            "?" + urllib.parse.urlsplit(location).query if "?" in location else ""
        )


def prepare() -> tuple[list[str], str]:
    """Members with a session each, and the door address of a store opened for this run."""
    base.database_prepare()
    base.django_setup()
    from campaigns.personalisation.recommendations import personalisation_run
    from consent.services.consent import consent_set
    from members.door import store_door_path
    from members.models import Member, Store

    ids = base.members_with_history(MEMBERS, PURCHASES)
    for member in Member.objects.filter(pk__in=ids):
        consent_set(member=member, purpose="profiling", granted=True, source="system")
    run = personalisation_run()
    log(f"personalisation: {run.recommendations} recommendations")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S")
    store = Store.objects.create(code=f"door-{stamp}"[:20], name=f"Dörren {stamp}")
    keys = base.sessions_create(ids)
    from django.db import connections

    connections.close_all()
    return keys, store_door_path(store)


def scan(phone: Phone, path: str) -> tuple[float, bool, str]:
    """What the phone does with the poster: (seconds, offer shown, problem or "")."""
    started = time.perf_counter()
    status, page = phone.get(path)
    if status != 200:
        return time.perf_counter() - started, False, f"GET {status}"
    token = CSRF_FIELD.search(page)
    if token is None:
        return time.perf_counter() - started, False, "no check-in form"
    status, location = phone.post_form(path, {"csrfmiddlewaretoken": token.group(1).decode()})
    if status != 302:
        return time.perf_counter() - started, False, f"POST {status}"
    status, page = phone.get(location)
    elapsed = time.perf_counter() - started
    if status != 200 or b'data-testid="door-welcome"' not in page:
        return elapsed, False, f"welcome {status}"
    return elapsed, b'data-testid="door-offer"' in page, ""


def together(phones: list[Phone], work: object) -> list[object]:
    barrier = threading.Barrier(len(phones))
    results: list[object] = [None] * len(phones)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = work(phones[index])  # type: ignore[operator]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(phones))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.95 + 0.5) - 1)] if ordered else float("nan")


def main() -> int:
    keys, door = prepare()
    env = base.server_env()
    worker = worker_start(env, WORKER_CONCURRENCY, name=worker_name())
    server = base.server_start()
    try:
        from config.celery import app

        worker_wait_ready(app)
        base.warm_up(keys[:2])
        phones = [Phone(key) for key in keys]
        for phone in phones:
            phone.connect()

        def offline(phone: Phone) -> float:
            started = time.perf_counter()
            status, _body = phone.get("/offline/")
            assert status == 200
            return time.perf_counter() - started

        baseline = [float(v) for v in together(phones, offline)]  # type: ignore[arg-type]
        results = together(phones, lambda phone: scan(phone, door))
        for phone in phones:
            phone.close()
    finally:
        base.server_stop(server)
        worker_stop(worker)

    times = [r[0] for r in results]  # type: ignore[index]
    with_offer = [r[0] for r in results if r[1]]  # type: ignore[index]
    problems = [r[2] for r in results if r[2]]  # type: ignore[index]
    load = os.getloadavg()[0]

    def ms(value: float) -> str:
        return f"{value * 1000:.0f} ms"

    lines = [
        f"{len(results)} members scanned the door poster at once "
        f"({base.machine()}, load {load:.1f}):",
        f"- baseline, {len(baseline)} simultaneous GET /offline/: "
        f"p50 {ms(statistics.median(baseline))}, p95 {ms(p95(baseline))}",
        "- check-in to the welcome page with the offer: "
        f"p50 {ms(statistics.median(times))}, p95 {ms(p95(with_offer))}, max {ms(max(times))}",
        f"- with an offer: {len(with_offer)} of {len(results)}; problems: {len(problems)} "
        f"{sorted(set(problems)) if problems else ''}",
    ]
    text = "\n".join(lines)
    log(text)
    if WRITE_DOCS:
        docs_write(text)
    print(f"checkins={len(with_offer)} checkin_p95_ms={p95(with_offer) * 1000:.0f}")
    return 0 if not problems else 1


def docs_write(text: str) -> None:
    doc = DOCS.read_text()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    block = f"{MARK_START}\nLast run {stamp}:\n\n{text}\n{MARK_END}"
    if MARK_START in doc:
        doc = re.sub(re.escape(MARK_START) + r".*?" + re.escape(MARK_END), block, doc, flags=re.S)
    else:
        doc += (
            "\n## Door check-in (`make bench-checkin`)\n\n"
            "Target: p95 from the scan to the offer on the phone at most 3 s (issue 14).\n\n"
            f"{block}\n"
        )
    DOCS.write_text(doc)


if __name__ == "__main__":
    sys.exit(main())
