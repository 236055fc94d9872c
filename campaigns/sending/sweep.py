"""``deliveries_sweep`` (beat) re-queues what a killed worker left behind."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import connection
from django.utils import timezone

from campaigns.models import (
    Campaign,
    Delivery,
    FanoutChunk,
)
from campaigns.sending import broker
from campaigns.sending.fanout import campaign_finish_if_done, chunks_queue, sends_queue


def deliveries_sweep(
    *, now: datetime.datetime | None = None, stuck_seconds: int | None = None, limit: int = 50_000
) -> dict[str, int]:
    """Beat: re-queue what a broker restart lost or a killed worker left behind.

    - pending rows and fan-out chunks queued before the broker's current epoch
      (``broker.epoch_start``: the broker restarted since, so their tasks are gone), never
      queued (the broker was away), queued long ago, or whose retry time has come;
    - "sending" rows whose claim is older than ``stuck_seconds`` (their worker died) go back
      to pending (their budget stays taken) and are queued again; a late original finds its
      claim gone and does not mark them;
    - and campaigns with nothing left are finished.
    """
    now = now or timezone.now()
    stale = now - datetime.timedelta(seconds=stuck_seconds or settings.CAMPAIGNS_STUCK_SECONDS)
    epoch = broker.epoch_start(now)
    # Queued before this, a task is presumed lost: the broker's epoch start once it restarted
    # (a restart loses every queued task at once), else the stuck limit.
    lost_before = max(stale, epoch) if epoch is not None else stale
    # What this sweep queues is dated no earlier than the epoch's start, so that the next
    # sweep does not count it lost again.
    stamp = max(now, epoch) if epoch is not None else now
    table = Delivery._meta.db_table
    # Rows a worker holds right now are being handled, not lost: the sweep skips them
    # (SKIP LOCKED) rather than wait, so it never waits on a worker that waits on it (a
    # deadlock between two many-row UPDATEs taking rows in different orders).
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = 'pending', queued_at = %s WHERE id IN ("  # noqa: S608
            f"SELECT id FROM {table} WHERE status = 'sending' AND claimed_at < %s LIMIT %s "
            "FOR UPDATE SKIP LOCKED) RETURNING id",
            [stamp, stale, limit],
        )
        unstuck = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            f"UPDATE {table} SET queued_at = %s WHERE id IN ("  # noqa: S608
            f"SELECT d.id FROM {table} AS d JOIN campaigns_campaign AS c ON c.id = d.campaign_id "
            "WHERE d.status = 'pending' AND c.status = 'sending' "
            "AND (d.not_before IS NULL OR d.not_before <= %s) "
            "AND (d.queued_at IS NULL OR d.queued_at < %s) LIMIT %s "
            "FOR UPDATE OF d SKIP LOCKED) RETURNING id",
            [stamp, now, lost_before, limit],
        )
        lost = [row[0] for row in cursor.fetchall()]
    chunks = list(
        FanoutChunk.objects.filter(
            done_at__isnull=True,
            queued_at__lt=lost_before,
            campaign__status=Campaign.Status.SENDING,
        ).values_list("pk", flat=True)
    )
    FanoutChunk.objects.filter(pk__in=chunks).update(queued_at=stamp)
    chunks_queue(chunks)
    sends_queue(sorted(unstuck + lost))
    finished = 0
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.SENDING).values_list(
        "pk", flat=True
    ):
        finished += campaign_finish_if_done(campaign_id=campaign_id)
    return {
        "unstuck": len(unstuck),
        "requeued": len(lost),
        "chunks": len(chunks),
        "finished": finished,
        "broker_restarted": int(epoch is not None and epoch > stale),
    }
