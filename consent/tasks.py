"""Celery tasks for consent: each loads by id and calls one service."""

from __future__ import annotations

from celery import shared_task

from consent import services


@shared_task(acks_late=True, time_limit=900, soft_time_limit=840)
def privacy_export_build_task(request_id: int) -> bool:
    return services.privacy_export_build(request_id=request_id) is not None


@shared_task(acks_late=True)
def privacy_erasures_run_due() -> dict[str, int]:
    """Due erasures, and re-sending exports whose task was lost (beat, every 15 minutes)."""
    return services.privacy_requests_run_due()


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def privacy_retention_run() -> dict[str, int]:
    return services.privacy_retention_run()
