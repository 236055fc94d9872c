"""Celery tasks for consent: each loads by id and calls one service."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.db import connection

from consent.services import retention
from consent.services.export import (
    EXPORT_TIME_LIMIT_SECONDS,
    export_leftovers_clean,
    privacy_export_build,
)
from consent.services.requests import privacy_requests_run_due

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    time_limit=EXPORT_TIME_LIMIT_SECONDS,
    soft_time_limit=EXPORT_TIME_LIMIT_SECONDS - 60,
)
def privacy_export_build_task(request_id: int) -> bool:
    return privacy_export_build(request_id=request_id) is not None


@shared_task(acks_late=True)
def privacy_erasures_run_due() -> dict[str, int]:
    """Due erasures, and exports whose worker died or whose task was lost (beat, every
    minute)."""
    return privacy_requests_run_due()


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def privacy_retention_run() -> dict[str, int]:
    return retention.privacy_retention_run()


@worker_ready.connect
def export_leftovers_clean_at_start(**kwargs: Any) -> None:
    """A worker that starts after being killed removes what its dead builds left (other
    workers' live builds keep theirs: they hold a lease)."""
    try:
        deleted = export_leftovers_clean()
        if deleted:
            logger.info("Removed %s export leftovers at start-up", deleted)
    except Exception:
        logger.exception("Could not remove export leftovers at start-up")
    finally:
        connection.close()
