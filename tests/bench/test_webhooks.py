"""``make bench-webhooks`` end to end in its short form: the real harness (its own database,
a Celery worker, the receiver on loopback) with 300 events and 50 for the latency. Every
event must arrive and the last line must have the promised form."""

from __future__ import annotations

import re

import pytest

from tests.processes import bench_database_url, bench_run

LAST_LINE = re.compile(r"^events=(\d+) webhook_ratio=(\d+\.\d+) p95_ms=(\d+)$")


@pytest.mark.bench
def test_webhooks_short_run_delivers_every_event(bench_redis: str) -> None:
    url = bench_database_url("bench_webhooks")
    run = bench_run(
        "bench.webhooks",
        {
            "BENCH_WEBHOOKS_EVENTS": "300",
            "BENCH_WEBHOOKS_LATENCY_EVENTS": "50",
            "BENCH_WEBHOOKS_DATABASE_URL": url,
            "BENCH_WEBHOOKS_REDIS_URL": bench_redis,
            "BENCH_WEBHOOKS_TIMEOUT": "60",
        },
        database_url=url,
        timeout=240,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    match = LAST_LINE.match(run.stdout.strip().splitlines()[-1])
    assert match, output[-2000:]
    assert int(match.group(1)) == 300
    assert "'failed'" not in output  # nothing given up
