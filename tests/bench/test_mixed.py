"""``make bench-mixed`` end to end in its short form: the real harness (its own database,
gunicorn, a default and a campaigns Celery worker) with a 2,000-member campaign, one round
and 2-second windows. Every campaign must finish and the last line, which is read by
machine, must have the promised form."""

from __future__ import annotations

import re

import pytest

from tests.processes import bench_database_url, bench_run, free_port

LAST_LINE = re.compile(r"^mixed_ratio=(\d+\.\d\d) p99_ratio=(\d+\.\d\d)$")


@pytest.mark.bench
def test_mixed_short_run_finishes_every_campaign(bench_redis: str) -> None:
    url = bench_database_url("bench_mixed")
    run = bench_run(
        "bench.mixed",
        {
            "BENCH_MIXED_DATABASE_URL": url,
            "BENCH_MIXED_REDIS_URL": bench_redis,
            "BENCH_MIXED_PORT": str(free_port()),
            "BENCH_MIXED_MEMBERS": "2000",
            "BENCH_MIXED_SECONDS": "2",
            "BENCH_MIXED_ROUNDS": "1",
            "BENCH_MIXED_PEAK_SECONDS": "20",
            "BENCH_MIXED_TIMEOUT": "120",
        },
        database_url=url,
        timeout=400,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    match = LAST_LINE.match(run.stdout.strip().splitlines()[-1])
    assert match, output[-4000:]
    assert float(match.group(1)) > 0, output[-4000:]
    assert float(match.group(2)) > 0, output[-4000:]
