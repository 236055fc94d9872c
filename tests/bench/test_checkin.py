"""``make bench-checkin`` end to end in its short form: the real harness (its own database,
gunicorn with the production settings, a Celery worker) with 5 members scanning the door
poster at once instead of 50. Every scan must end on the welcome page with an offer, and
the last line must have the promised form."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.processes import bench_database_url, bench_run, free_port

LAST_LINE = re.compile(r"^checkins=(\d+) checkin_p95_ms=(\d+)$")


@pytest.mark.bench
def test_checkin_short_run_shows_every_member_an_offer(tmp_path: Path, bench_redis: str) -> None:
    url = bench_database_url("bench_checkin")
    run = bench_run(
        "bench.checkin",
        {
            "BENCH_CHECKIN_MEMBERS": "5",
            "BENCH_CHECKIN_HISTORY": "10",
            "BENCH_CHECKIN_DOCS": "0",
            "BENCH_PAGES_DATABASE_URL": url,
            "BENCH_PAGES_REDIS_URL": bench_redis,
            "BENCH_PAGES_PORT": str(free_port()),
            "BENCH_PAGES_VAR_DIR": str(tmp_path),
        },
        database_url=url,
        timeout=300,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    match = LAST_LINE.match(run.stdout.strip().splitlines()[-1])
    assert match, output[-4000:]
    assert match.group(1) == "5", output[-4000:]
    assert "problems: 0" in run.stdout, output[-4000:]
