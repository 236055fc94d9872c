"""`make test` says in one clear line when PostgreSQL or Redis is unreachable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

SCRIPT = Path(settings.BASE_DIR) / "scripts" / "check_services.py"


def _check(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "service"),
    [
        ({"DATABASE_URL": "postgres://postgres@127.0.0.1:1/kundklubb"}, "PostgreSQL"),
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, "Redis"),
    ],
)
def test_check_services_fails_in_one_clear_line(env, service):
    result = _check(**env)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{service} is not reachable at ")
    assert "127.0.0.1:1" in lines[0]


def test_check_services_passes_when_both_answer():
    result = _check(VERBOSE="1")
    assert result.returncode == 0, result.stderr
    assert "reachable" in result.stdout
