"""Celery tasks for webhooks: each calls one service (consent.webhooks.delivery).

``acks_late``: a task a killed worker held is redelivered by the broker; the sweeper (beat)
does not wait for that, it frees the deliveries whose lease ran out and queues their send.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from consent.webhooks.delivery import (
    sends_queue,
    webhooks_committed_take,
    webhooks_fan_out,
    webhooks_send,
    webhooks_sweep,
)


@shared_task(acks_late=True)
def webhooks_fan_out_task(event_ids: list[int]) -> int:
    """Deliveries for committed events (these ids and those the outbox's hook left in
    Redis); the first batch of the first endpoint is sent here (one hop less), the rest by
    up to WEBHOOKS_PARALLEL_SENDS send tasks per endpoint."""
    ids = sorted(set(event_ids) | set(webhooks_committed_take()))
    if not ids:
        return 0
    created = webhooks_fan_out(event_ids=ids)
    batch = settings.WEBHOOKS_BATCH_SIZE
    for n, (endpoint_id, count) in enumerate(sorted(created.items())):
        sends = min(settings.WEBHOOKS_PARALLEL_SENDS, -(-count // batch))
        if n == 0:
            sends_queue([endpoint_id] * (sends - 1))
            webhooks_send_task(endpoint_id)
        else:
            sends_queue([endpoint_id] * sends)
    return len(created)


@shared_task(acks_late=True, time_limit=600, soft_time_limit=580)
def webhooks_send_task(endpoint_id: int) -> dict[str, Any]:
    """One batch; a full batch queues the next, a short retry queues itself for later (longer
    ones are the sweeper's)."""
    result = webhooks_send(endpoint_id=endpoint_id)
    if result.more:
        sends_queue([endpoint_id])
    elif result.retry_in is not None and result.retry_in <= settings.WEBHOOKS_COUNTDOWN_MAX_SECONDS:
        sends_queue([endpoint_id], countdown=result.retry_in)
    return {
        "claimed": result.claimed,
        "delivered": result.delivered,
        "failed": result.failed,
        "given_up": result.given_up,
        "skipped": result.skipped,
    }


@shared_task(acks_late=True)
def webhooks_sweep_task() -> dict[str, Any]:
    """Beat, every WEBHOOKS_SWEEP_SECONDS."""
    taken = webhooks_committed_take()
    if taken:
        webhooks_fan_out(event_ids=taken)
    found = webhooks_sweep()
    sends_queue(found["endpoints"])
    return found
