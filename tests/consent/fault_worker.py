"""The Celery app a privacy fault test starts as a real worker (``celery -A
tests.consent.fault_worker worker``): the project's app, made slow enough to be killed
mid-way, with mail written to files the test can count. Nothing here is imported by the
project; production code has no test hook.

Environment (set by the test):
- ``KK_FAULT_SECTION_SECONDS``: sleep while writing each export section.
- ``KK_FAULT_ERASURE_SECONDS``: sleep inside the erasure transaction.
- ``KK_FAULT_MARK_DIR``: a folder where each slow step leaves a file (``<kind>-<pid>-<n>``),
  so the test knows a job is under way and counts how often it ran.
"""

from __future__ import annotations

import itertools
import os
import time
from pathlib import Path
from typing import Any

from celery.signals import worker_process_init

from config.celery import app

__all__ = ["app"]

_seq = itertools.count()


def _mark(kind: str) -> None:
    folder = os.environ.get("KK_FAULT_MARK_DIR")
    if folder:
        (Path(folder) / f"{kind}-{os.getpid()}-{next(_seq)}").touch()


@worker_process_init.connect
def _slow_down(**kwargs: Any) -> None:
    import consent.export
    from consent import privacy_parts

    section_seconds = float(os.environ.get("KK_FAULT_SECTION_SECONDS", "0"))
    erasure_seconds = float(os.environ.get("KK_FAULT_ERASURE_SECONDS", "0"))
    rows_to_csv = consent.export.rows_to_csv

    def slow_rows_to_csv(rows: list[dict[str, Any]]) -> str:
        _mark("export")
        time.sleep(section_seconds)
        return rows_to_csv(rows)

    def slow_erasure_step(member: Any) -> None:
        _mark("erasure")
        time.sleep(erasure_seconds)

    consent.export.rows_to_csv = slow_rows_to_csv
    # After every real step, still inside the erasure's transaction.
    privacy_parts.erasure_step_register(name="fault_slow", run=slow_erasure_step, order=10_000)
