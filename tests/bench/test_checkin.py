"""``make bench-checkin`` end to end in its short form: the real harness (its own database,
gunicorn with the production settings, a Celery worker) with 5 members scanning the door
poster at once instead of 50. Every scan must end on the welcome page with an offer, and
the last line must have the promised form."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
LAST_LINE = re.compile(r"^checkins=(\d+) checkin_p95_ms=(\d+)$")


@pytest.mark.bench
def test_checkin_short_run_shows_every_member_an_offer(tmp_path: Path, bench_redis: str) -> None:
    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_bench_checkin"
    host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    url = f"postgres://{db.get('USER') or 'postgres'}@{host}/{name}"
    env = {
        **os.environ,
        "BENCH_CHECKIN_MEMBERS": "5",
        "BENCH_CHECKIN_HISTORY": "10",
        "BENCH_CHECKIN_DOCS": "0",
        "BENCH_PAGES_DATABASE_URL": url,
        "BENCH_PAGES_REDIS_URL": bench_redis,
        "BENCH_PAGES_PORT": str(free_port()),
        "BENCH_PAGES_VAR_DIR": str(tmp_path),
    }
    try:
        run = subprocess.run(
            [sys.executable, "-m", "bench.checkin"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
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
    assert match, output[-4000:]
    assert match.group(1) == "5", output[-4000:]
    assert "problems: 0" in run.stdout, output[-4000:]
