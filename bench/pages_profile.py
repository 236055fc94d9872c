"""Where a member page's time goes, in process: CPU per request, split into SQL, template
rendering, the view's own Python and the middleware (docs/benchmarks.md "Member pages").

    python -m bench.pages_profile [--prepare] [-n 200] [--lang sv] [--page points]
                                  [--cprofile points] [--dump DIR]

The same production settings, database and members as ``make bench-pages`` (its
``BENCH_PAGES_*`` variables; ``--prepare`` loads the history first, as the bench does). Each
request goes through Django's WSGI handler as gunicorn calls it, with the bench's headers and
a member's session cookie, so every middleware runs. CPU time (``time.process_time``) hardly
moves with other load on the machine, unlike the requests per second of ``bench.pages``.

Per page: CPU ms per request (mean and the median of 10 batches), wall ms, queries, and the
CPU time of this process spent in SQL (sending statements and reading rows, from
``connection.execute_wrapper``), in top-level template renders (SQL run while rendering
excluded), in the view's own Python and in the middleware (the request minus the view, with
the middleware's own SQL: the session and the user). ``--cprofile PAGE`` prints the page's
profile; ``--dump DIR`` writes each page's HTML (CSRF tokens blanked) for before/after diffs.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench import pages as bench

# The meter reads this thread's CPU time: other load on the machine hardly moves it.
CLOCK = time.thread_time
CSRF = re.compile(rb'(name="csrfmiddlewaretoken" value=")[^"]*(")')


class Meter:
    """Wall time of SQL and of template renders during one request, and the query count."""

    def __init__(self) -> None:
        self.sql = 0.0
        self.sql_in_render = 0.0
        self.sql_in_view = 0.0
        self.in_view = 0
        self.render = 0.0
        self.view = 0.0
        self.queries = 0
        self.rendering = 0

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def execute(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        began = CLOCK()
        try:
            return execute(sql, params, many, context)
        finally:
            spent = CLOCK() - began
            self.queries += 1
            self.sql += spent
            if self.rendering:
                self.sql_in_render += spent
            if self.in_view:
                self.sql_in_view += spent


def instrument(meter: Meter) -> None:
    """Time top-level template renders and the view (``BaseHandler._get_response``: URL
    resolution, the view and its rendering); call before the handler is made, as it binds
    ``_get_response`` into its middleware chain."""
    from django.core.handlers.base import BaseHandler
    from django.template.backends.django import Template

    render = Template.render

    def timed_render(self: Any, *args: Any, **kwargs: Any) -> Any:
        if meter.rendering:
            return render(self, *args, **kwargs)
        meter.rendering += 1
        began = CLOCK()
        try:
            return render(self, *args, **kwargs)
        finally:
            meter.render += CLOCK() - began
            meter.rendering -= 1

    Template.render = timed_render  # type: ignore[method-assign]

    get_response = getattr(BaseHandler, "_get_response")  # noqa: B009 - private, for mypy

    def timed_get_response(self: Any, request: Any) -> Any:
        began = CLOCK()
        meter.in_view += 1
        try:
            return get_response(self, request)
        finally:
            meter.view += CLOCK() - began
            meter.in_view -= 1

    setattr(BaseHandler, "_get_response", timed_get_response)  # noqa: B010


# Cookies the answers set (CSRF), per session, sent back as the bench's clients do.
JARS: dict[str | None, dict[str, str]] = {}


def environ(path: str, session_key: str | None, language: str) -> dict[str, Any]:
    env = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SCRIPT_NAME": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(bench.PORT),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_FORWARDED_FOR": "10.0.0.1",
        "HTTP_ACCEPT_LANGUAGE": language,
        "HTTP_USER_AGENT": "bench.pages",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    jar = JARS.setdefault(session_key, {"sessionid": session_key} if session_key else {})
    if jar:
        env["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in jar.items())
    return env


def request(handler: Any, path: str, session_key: str | None, language: str) -> bytes:
    status: list[str] = []

    def start_response(s: str, headers: Any, exc_info: Any = None) -> None:
        status.append(s)
        jar = JARS.setdefault(session_key, {})
        for name, value in headers:
            match = bench.COOKIE.match(value) if name.lower() == "set-cookie" else None
            if match:
                jar[match.group(1)] = match.group(2)

    result = handler(environ(path, session_key, language), start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close:
            close()
    if not status[0].startswith("200"):
        raise RuntimeError(f"GET {path}: {status[0]} {body[:300]!r}")
    return body


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prepare", action="store_true", help="migrate and load the history")
    parser.add_argument("-n", type=int, default=200, help="requests per page")
    parser.add_argument("--lang", default="sv")
    parser.add_argument("--page", action="append", help="only these pages (name or path)")
    parser.add_argument("--cprofile", help="profile this page (name or path)")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--dump", help="write each page's HTML into this folder")
    args = parser.parse_args(argv)

    if args.prepare:
        bench.database_prepare()
    bench.django_setup()
    if args.prepare:
        member_ids = bench.members_with_history(bench.MEMBERS, bench.PURCHASES)
        bench.database_analyze()
    else:
        from members.models import Member

        member_ids = list(
            Member.objects.filter(user__isnull=False, erased_at__isnull=True)
            .filter(purchases__isnull=False)
            .distinct()
            .order_by("pk")
            .values_list("pk", flat=True)[: bench.MEMBERS]
        )
    keys = bench.sessions_create(member_ids)[:4]

    from django.core.handlers.wsgi import WSGIHandler
    from django.db import connection

    meter = Meter()
    instrument(meter)
    handler = WSGIHandler()
    connection.execute_wrappers.append(meter.execute)

    pages = [("offline (anonymous)", "/offline/"), ("offline (logged in)", "/offline/")]
    pages += bench.PAGES
    if args.page:
        pages = [p for p in pages if p[0] in args.page or p[1] in args.page]
    if args.cprofile:
        pages = [p for p in pages if args.cprofile in p]

    print(
        f"{'page':<22} {'cpu ms':>7} {'med':>6} {'wall':>6} {'q':>3} {'sql':>6} "
        f"{'render':>6} {'view py':>7} {'mw py':>6}   (ms per request, load "
        f"{os.getloadavg()[0]:.1f})"
    )
    for name, path in pages:
        anonymous = name == "offline (anonymous)"

        def key(i: int) -> str | None:
            return None if anonymous else keys[i % len(keys)]  # noqa: B023

        for i in range(20):
            request(handler, path, key(i), args.lang)
        if args.dump:
            folder = Path(args.dump)
            folder.mkdir(parents=True, exist_ok=True)
            slug = re.sub(r"\W+", "-", name).strip("-")
            (folder / f"{slug}.{args.lang}.html").write_bytes(
                CSRF.sub(rb"\1-\2", request(handler, path, key(0), args.lang))
            )
        if args.cprofile:
            profile = cProfile.Profile(CLOCK)  # CPU time, not waits
            profile.enable()
            for i in range(args.n):
                request(handler, path, key(i), args.lang)
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats(args.sort).print_stats(
                int(os.environ.get("PROFILE_LINES", "45"))
            )
            print(out.getvalue())
            continue
        batches = []
        totals = Meter()
        cpu_all = wall_all = thread_all = 0.0
        per_batch = max(1, args.n // 10)
        for _batch in range(10):
            cpu0, wall0, thread0 = time.process_time(), time.perf_counter(), CLOCK()
            for i in range(per_batch):
                meter.reset()
                request(handler, path, key(i), args.lang)
                totals.sql += meter.sql
                totals.render += meter.render - meter.sql_in_render
                totals.view += meter.view
                totals.sql_in_view += meter.sql_in_view
                totals.queries += meter.queries
            cpu = time.process_time() - cpu0
            batches.append(cpu / per_batch)
            cpu_all += cpu
            wall_all += time.perf_counter() - wall0
            thread_all += CLOCK() - thread0
        count = per_batch * 10
        wall = wall_all / count
        view_py = (totals.view - totals.sql_in_view - totals.render) / count
        middleware = (
            thread_all / count - totals.view / count - (totals.sql - totals.sql_in_view) / count
        )
        print(
            f"{name:<22} {cpu_all / count * 1000:7.2f} {statistics.median(batches) * 1000:6.2f} "
            f"{wall * 1000:6.2f} {totals.queries / count:3.0f} {totals.sql / count * 1000:6.2f} "
            f"{totals.render / count * 1000:6.2f} {view_py * 1000:7.2f} "
            f"{middleware * 1000:6.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
