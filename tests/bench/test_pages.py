"""``make bench-pages`` end to end in its short form: the real harness (its own database with
a year of history, gunicorn with the production settings in docs/deploy.md's shape, logged-in
clients on keep-alive connections) with 3 members and windows of a fraction of a second.
Every member page must answer (a failing page stops the bench) and the last line, which
is read by machine, must have the promised form."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.pages import PAGES
from tests.processes import bench_database_url, bench_run, free_port

LAST_LINE = re.compile(r"^pages_min_ratio=(\d+\.\d\d) p99_2_ms=(\d+) p99_8_ms=(\d+)$")


@pytest.mark.bench
def test_pages_short_run_measures_every_page(tmp_path: Path, bench_redis: str) -> None:
    url = bench_database_url("bench_pages")
    run = bench_run(
        "bench.pages",
        {
            "BENCH_PAGES_DATABASE_URL": url,
            "BENCH_PAGES_REDIS_URL": bench_redis,
            "BENCH_PAGES_PORT": str(free_port()),
            "BENCH_PAGES_VAR_DIR": str(tmp_path),
            "BENCH_PAGES_HISTORY": "6",
            "BENCH_PAGES_MEMBERS": "3",
            "BENCH_PAGES_PURCHASES": "10",
            "BENCH_PAGES_SECONDS": "0.4",
            "BENCH_PAGES_WARMUP": "0.1",
            "BENCH_PAGES_WORKERS": "2",
            "BENCH_PAGES_DOCS": "0",
        },
        database_url=url,
        timeout=300,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    match = LAST_LINE.match(run.stdout.strip().splitlines()[-1])
    assert match, output[-4000:]
    assert 0 < float(match.group(1)) <= 5, output[-4000:]
    # every page was measured at both concurrencies, with requests answered
    for name, _path in PAGES:
        for clients in (2, 8):
            assert re.search(
                rf"^  {re.escape(name)} +{clients} clients: +[1-9]\d*/s", run.stdout, re.M
            ), f"{name} at {clients} clients\n" + output[-4000:]
