"""Celery tasks for campaigns: each loads by id and calls one service.

Every task is idempotent (claims by conditional update, unique rows) and ``acks_late``, so a
task whose worker was killed is delivered again (or re-queued by the sweeper) without harm.
"""

from __future__ import annotations

import time

from celery import current_app, shared_task
from django.conf import settings
from django.db import OperationalError

from campaigns import triggers
from campaigns.data_quality.snapshots import data_quality_snapshot_take
from campaigns.sending import batch, fanout, sweep
from campaigns.sending.fanout import fanout_chunk_run

# The longest a campaign task rests after its work, whatever the work took.
MAX_REST_SECONDS = 30.0


def campaigns_rest(*, started: float) -> float:
    """Let the tills go first: a worker that consumes only the campaigns queue rests
    ``CAMPAIGNS_SEND_PACE`` times as long as the fan-out chunk or send batch took, so a
    campaign uses at most 1 / (1 + pace) of a process and of its database session, and its
    bulk statements leave gaps for the tills' (docs/campaigns.md, "Beside the tills"). A
    worker that also consumes the default queue never rests: it would hold up other tasks.
    Returns the seconds rested."""
    pace = float(settings.CAMPAIGNS_SEND_PACE)
    if pace <= 0 or set(current_app.amqp.queues.consume_from or ()) != {settings.CAMPAIGNS_QUEUE}:
        return 0.0
    rest = min((time.monotonic() - started) * pace, MAX_REST_SECONDS)
    time.sleep(rest)
    return rest


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
    started = time.monotonic()
    written = fanout_chunk_run(chunk_id=chunk_id)
    campaigns_rest(started=started)
    return written


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
    started = time.monotonic()
    outcome = batch.deliveries_send(delivery_ids=delivery_ids)
    campaigns_rest(started=started)
    return outcome


@shared_task(acks_late=True)
def deliveries_sweep() -> dict[str, int]:
    return sweep.deliveries_sweep()


@shared_task(acks_late=True)
def campaigns_start_due() -> int:
    return fanout.campaigns_start_due()


@shared_task(acks_late=True)
def triggers_daily() -> int:
    return triggers.triggers_daily()


@shared_task(acks_late=True)
def data_quality_snapshot() -> int:
    """Nightly: keep the day's data-quality counts (one row a day; running again replaces it)."""
    return data_quality_snapshot_take().pk
