"""``make bench-soak`` end to end in its short form: the real harness (fresh database,
gunicorn, both Celery workers, beat, tills, members, campaigns, an export and an erasure)
for 20 seconds instead of ten minutes, on a database and Redis of this test's own. Its last
line must have the promised form, no errors and intact books. (Memory growth is not judged:
20 seconds is all warm-up.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.processes import bench_database_url, bench_run, free_port

LAST_LINE = re.compile(r"^errors=(\d+) invariants=(ok|broken) rss_growth=(-?\d+\.\d\d)$")
SHORT = {
    "BENCH_SOAK_SECONDS": "20",
    "BENCH_SOAK_WARMUP": "4",
    "BENCH_SOAK_DRAIN": "90",
    "BENCH_SOAK_TILLS": "2",
    "BENCH_SOAK_TILL_RATE": "10",
    "BENCH_SOAK_TILL_MEMBERS": "20",
    "BENCH_SOAK_BROWSERS": "2",
    "BENCH_SOAK_PAGE_RATE": "10",
    "BENCH_SOAK_HISTORY": "10",
    "BENCH_SOAK_BROWSE_MEMBERS": "2",
    "BENCH_SOAK_PURCHASES": "5",
    "BENCH_SOAK_CAMPAIGN_MEMBERS": "2000",
    "BENCH_SOAK_CAMPAIGN_EVERY": "5",
    "BENCH_SOAK_PRIVACY_EVERY": "8",
    "BENCH_SOAK_NIGHTLY_SECONDS": "10",
    "BENCH_SOAK_DOCS": "0",
}


@pytest.mark.bench
def test_soak_short_run_has_no_errors_and_intact_books(tmp_path: Path, bench_redis: str) -> None:
    # given the soak harness with its knobs at a 20-second scale, on databases of its own
    url = bench_database_url("bench_soak")
    # when it runs
    run = bench_run(
        "bench.soak",
        {
            **SHORT,
            "BENCH_SOAK_DATABASE_URL": url,
            "BENCH_SOAK_REDIS_URL": bench_redis,
            "BENCH_SOAK_PORT": str(free_port()),
            "BENCH_SOAK_VAR_DIR": str(tmp_path),
        },
        database_url=url,
        timeout=240,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    lines = run.stdout.strip().splitlines()
    # then the last line has the promised form, nothing failed and the books hold
    match = LAST_LINE.match(lines[-1])
    assert match, output[-4000:]
    assert match.group(1) == "0", output[-4000:]
    assert match.group(2) == "ok", output[-4000:]
    # and every part of the load really ran
    for part in ("till purchase", "till return", "till reserve", "member pages"):
        assert re.search(rf"^{part}: [\d.]+/s, n=[1-9]", run.stdout, re.M), output[-4000:]
    assert re.search(r"^campaigns: [1-9]", run.stdout, re.M), output[-4000:]
    assert re.search(r"^exports: [1-9]", run.stdout, re.M), output[-4000:]
    assert re.search(r"^erasures: [1-9]", run.stdout, re.M), output[-4000:]
