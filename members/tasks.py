"""Celery tasks for members: each loads by id and calls one service."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.core.mail import EmailMultiAlternatives

from members import activity, duplicates, import_jobs, outbox
from members.sms import SmsRejectedError, SmsTransientError, sms_provider_send

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(OSError,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=8,
)
def email_send(payload: dict[str, Any]) -> None:
    """Send one rendered transactional email (verification, welcome, password reset)."""
    message = EmailMultiAlternatives(
        subject=payload["subject"],
        body=payload["body"],
        from_email=payload.get("from_email"),
        to=payload["to"],
        headers=payload.get("headers") or None,
    )
    if payload.get("html"):
        message.attach_alternative(payload["html"], "text/html")
    message.send()


@shared_task(
    autoretry_for=(SmsTransientError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=6,
)
def sms_send(payload: dict[str, str]) -> str:
    """Send one transactional text message (an activation code, members.activation)."""
    try:
        return sms_provider_send(
            to=payload["to"], text=payload["text"], idempotency_key=payload["idempotency_key"]
        )
    except SmsRejectedError:
        # A number the provider refuses: nothing to retry; the page told the member to ask
        # in store if nothing arrives.
        logger.warning("activation SMS refused by the provider")
        return ""


@shared_task(acks_late=True)
def activity_dispatch(event_id: int) -> int:
    return activity.activity_consume(event_id=event_id)


@shared_task(acks_late=True)
def activity_drain() -> int:
    return activity.activity_drain()


@shared_task(acks_late=True)
def activity_sweep() -> int:
    return activity.activity_sweep()


@shared_task(acks_late=True)
def outbox_sequence() -> int:
    """Give committed events their feed positions (members.outbox; the feed does it too)."""
    return outbox.outbox_sequence()


@shared_task(acks_late=True)
def outbox_purge() -> int:
    """Delete events older than WEBHOOKS_OUTBOX_KEEP_DAYS (docs/webhooks.md "Retention")."""
    return outbox.outbox_purge()


@shared_task(acks_late=True)
def duplicates_find(member_ids: list[int]) -> int:
    """Look for duplicates of the given members (members.duplicates)."""
    return duplicates.duplicates_find_for_members(member_ids=member_ids)


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def duplicates_scan() -> int:
    """The nightly duplicate scan over every member (members.duplicates, beat)."""
    return duplicates.duplicates_scan()


@shared_task(acks_late=True, time_limit=3600, soft_time_limit=3500)
def import_job_run(job_id: int) -> bool:
    """Run one uploaded import (members.import_jobs)."""
    return import_jobs.import_job_run(job_id=job_id)
