"""``make bench-webhooks`` end to end in its short form: the real harness (its own database,
a Celery worker, the receiver on loopback) with 300 events and 50 for the latency. Every
event must arrive and the last line must have the promised form."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
LAST_LINE = re.compile(r"^events=(\d+) webhook_ratio=(\d+\.\d+) p95_ms=(\d+)$")


@pytest.mark.bench
def test_webhooks_short_run_delivers_every_event(bench_redis: str) -> None:
    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_bench_webhooks"
    host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    env = {
        **os.environ,
        "BENCH_WEBHOOKS_EVENTS": "300",
        "BENCH_WEBHOOKS_LATENCY_EVENTS": "50",
        "BENCH_WEBHOOKS_DATABASE_URL": f"postgres://{db.get('USER') or 'postgres'}@{host}/{name}",
        "BENCH_WEBHOOKS_REDIS_URL": bench_redis,
        "BENCH_WEBHOOKS_TIMEOUT": "60",
    }
    try:
        run = subprocess.run(
            [sys.executable, "-m", "bench.webhooks"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        with psycopg.connect(
            host=db.get("HOST") or "127.0.0.1",
            port=int(db.get("PORT") or 5432),
            user=db.get("USER") or "postgres",
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    match = LAST_LINE.match(run.stdout.strip().splitlines()[-1])
    assert match, output[-2000:]
    assert int(match.group(1)) == 300
    assert "'failed'" not in output  # nothing given up
