"""Celery tasks for campaigns: each loads by id and calls one service.

Every task is idempotent (claims by conditional update, unique rows) and ``acks_late``, so a
task whose worker was killed is delivered again (or re-queued by the sweeper) without harm.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from campaigns import triggers
from campaigns.sending import batch, fanout, sweep
from campaigns.sending.fanout import fanout_chunk_run


@shared_task(acks_late=True, reject_on_worker_lost=True)
def campaign_start(campaign_id: int) -> int:
    return fanout.campaign_start(campaign_id=campaign_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def campaign_occurrence_start(campaign_id: int) -> int:
    return fanout.campaign_occurrence_start(campaign_id=campaign_id)


# A lost database connection or a deadlock victim: try again soon (the sweeper would also
# re-queue the rows, but only after CAMPAIGNS_STUCK_SECONDS).
@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def fanout_chunk(chunk_id: int) -> int:
    return fanout_chunk_run(chunk_id=chunk_id)


# A lost database connection or a deadlock victim: try again soon (the sweeper would also
# re-queue the rows, but only after CAMPAIGNS_STUCK_SECONDS).
@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def deliveries_send(delivery_ids: list[int]) -> dict[str, int]:
    return batch.deliveries_send(delivery_ids=delivery_ids)


@shared_task(acks_late=True)
def deliveries_sweep() -> dict[str, int]:
    return sweep.deliveries_sweep()


@shared_task(acks_late=True)
def campaigns_start_due() -> int:
    return fanout.campaigns_start_due()


@shared_task(acks_late=True)
def triggers_daily() -> int:
    return triggers.triggers_daily()
