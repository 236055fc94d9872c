"""Fan-out (docs/campaigns.md): ``campaign_launch`` schedules; beat's ``campaigns_start_due``
(or launch itself, when due now) moves the campaign to "sending" with a conditional update
and writes its fan-out chunks; each chunk task inserts the chunk's delivery rows in one
``INSERT ... SELECT`` (``campaigns.sending.audience``) and queues send batches."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.errors import CampaignStateError
from campaigns.models import (
    Campaign,
    Delivery,
    FanoutChunk,
    Variant,
)
from campaigns.sending import audience, broker
from members.enqueue import task_get
from members.errors import NotFoundError
from members.outbox import outbox_emit


def campaign_task(name: str) -> Any:
    """The task ``campaigns.tasks.<name>`` (services never import the task module)."""
    return task_get(f"campaigns.tasks.{name}")


def campaign_start(
    *,
    campaign_id: int,
    occurrence: str = "",
    now: datetime.datetime | None = None,
    forced_variant_id: int | None = None,
) -> int:
    """Scheduled (due) -> sending, and write the fan-out chunks. Returns chunks written (0 when
    the campaign was not due or was started already)."""
    now = now or timezone.now()
    chunk_size = settings.CAMPAIGNS_FANOUT_CHUNK
    with transaction.atomic():
        campaign = (
            Campaign.objects.select_for_update(of=("self",))
            .select_related("segment")
            .filter(pk=campaign_id)
            .first()
        )
        if campaign is None:
            return 0
        promoting = forced_variant_id is not None and campaign.status == Campaign.Status.DONE
        due = campaign.status == Campaign.Status.SCHEDULED and (
            campaign.send_at is None or campaign.send_at <= now
        )
        if not (due or promoting):
            return 0
        bounds = audience.audience(campaign).aggregate(low=Min("pk"), high=Max("pk"))
        chunks = []
        limit = None if promoting else campaign.test_group_size
        if bounds["low"] is not None:
            if limit is not None:
                chunks.append((bounds["low"], bounds["high"]))
            else:
                low = bounds["low"]
                while low <= bounds["high"]:
                    chunks.append((low, low + chunk_size - 1))
                    low += chunk_size
        made = FanoutChunk.objects.bulk_create(
            [
                FanoutChunk(
                    campaign=campaign,
                    occurrence=occurrence,
                    low=low,
                    high=high,
                    limit=limit,
                    variant_id=forced_variant_id,
                    queued_at=now,
                )
                for low, high in chunks
            ]
        )
        Campaign.objects.filter(pk=campaign.pk).update(
            status=Campaign.Status.SENDING,
            occurrence=occurrence,
            test_group_size=None if promoting else campaign.test_group_size,
            finished_at=None,
        )
        ids = [c.pk for c in made]
        transaction.on_commit(lambda: chunks_queue(ids))
        if not ids:
            transaction.on_commit(lambda: campaign_finish_if_done(campaign_id=campaign_id))
    return len(ids)


# A fan-out chunk whose task could not be queued is dated back to this: the next sweep
# queues it (the column has no "not queued" value).
NOT_QUEUED = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


def chunks_queue(chunk_ids: Iterable[int]) -> None:
    """Queue a fan-out task per chunk. With the broker away, the rest are marked not queued
    (the next sweep queues them) instead of raising."""
    task = campaign_task("fanout_chunk")
    ids = list(chunk_ids)
    for n, chunk_id in enumerate(ids):
        if not broker.publish(task, chunk_id):
            FanoutChunk.objects.filter(pk__in=ids[n:], done_at__isnull=True).update(
                queued_at=NOT_QUEUED
            )
            return


def campaign_promote_start(*, campaign: Campaign, variant: Variant) -> int:
    """Send ``variant`` to the members of the segment the test did not reach (the holdout
    keeps applying). For "promote the winner" after a test-group run."""
    if variant.campaign_id != campaign.pk:
        raise NotFoundError()
    if campaign.status != Campaign.Status.DONE:
        raise CampaignStateError(_("Promote the winner after the test run has finished."))
    return campaign_start(campaign_id=campaign.pk, forced_variant_id=variant.pk, occurrence="")


def fanout_chunk_run(*, chunk_id: int, now: datetime.datetime | None = None) -> int:
    """Insert the chunk's deliveries and queue their send batches. Returns rows inserted."""
    now = now or timezone.now()
    with transaction.atomic():
        chunk = (
            FanoutChunk.objects.select_for_update(of=("self",))
            .select_related("campaign", "variant")
            .filter(pk=chunk_id)
            .first()
        )
        if chunk is None or chunk.done_at is not None:
            return 0
        campaign = chunk.campaign
        if campaign.status != Campaign.Status.SENDING:
            return 0
        variants = list(campaign.variants.order_by("code"))
        members = audience.audience(campaign)
        if chunk.limit is None:
            members = members.filter(pk__gte=chunk.low, pk__lte=chunk.high)
        inserted = audience.insert_deliveries(
            campaign=campaign,
            members=members,
            variants=variants,
            channel=campaign.channels[0],
            occurrence=chunk.occurrence,
            now=now,
            forced_variant=chunk.variant,
            limit=chunk.limit,
        )
        FanoutChunk.objects.filter(pk=chunk.pk).update(done_at=timezone.now())
        pending = list(
            Delivery.objects.filter(
                campaign=campaign,
                occurrence=chunk.occurrence,
                status=Delivery.Status.PENDING,
                channel=campaign.channels[0],
                member_id__gte=chunk.low,
                member_id__lte=chunk.high,
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        transaction.on_commit(lambda: sends_queue(pending))
        if not pending:
            campaign_id = campaign.pk
            transaction.on_commit(lambda: campaign_finish_if_done(campaign_id=campaign_id))
    return inserted


def sends_queue(delivery_ids: list[int]) -> None:
    """Queue send batches. With the broker away, the rest of the rows are marked not queued
    (``queued_at`` NULL: the next sweep queues them) instead of raising."""
    size = settings.CAMPAIGNS_SEND_BATCH
    task = campaign_task("deliveries_send")
    for start in range(0, len(delivery_ids), size):
        if not broker.publish(task, delivery_ids[start : start + size]):
            Delivery.objects.filter(
                pk__in=delivery_ids[start:], status=Delivery.Status.PENDING
            ).update(queued_at=None)
            return


def campaign_finish_if_done(*, campaign_id: int) -> bool:
    """Sending -> done (recurring: back to scheduled) once every row is final."""
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.status != Campaign.Status.SENDING:
        return False
    if campaign.schedule_kind == Campaign.ScheduleKind.TRIGGER:
        return False
    if FanoutChunk.objects.filter(campaign_id=campaign_id, done_at__isnull=True).exists():
        return False
    if Delivery.objects.filter(
        campaign_id=campaign_id, status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING]
    ).exists():
        return False
    after = (
        Campaign.Status.SCHEDULED
        if campaign.schedule_kind == Campaign.ScheduleKind.RECURRING
        else Campaign.Status.DONE
    )
    with transaction.atomic():
        if not Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING).update(
            status=after, finished_at=timezone.now()
        ):
            return False
        # The public event (members.outbox), in the same transaction: counts only.
        counts = dict(
            Delivery.objects.filter(campaign_id=campaign_id)
            .order_by()
            .values("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        outbox_emit(
            "campaign.completed",
            data={
                "campaign_id": campaign_id,
                "recurring": campaign.schedule_kind == Campaign.ScheduleKind.RECURRING,
                "deliveries": {str(status): n for status, n in sorted(counts.items())},
            },
        )
    return True


def campaigns_start_due(*, now: datetime.datetime | None = None) -> int:
    """Beat: start every one-off campaign whose time has come."""
    now = now or timezone.now()
    started = 0
    for campaign_id in Campaign.objects.filter(
        status=Campaign.Status.SCHEDULED,
        schedule_kind=Campaign.ScheduleKind.ONCE,
        send_at__lte=now,
    ).values_list("pk", flat=True):
        started += 1 if campaign_start(campaign_id=campaign_id, now=now) else 0
    return started


def campaign_occurrence_start(*, campaign_id: int, now: datetime.datetime | None = None) -> int:
    """A recurring campaign's run (from its periodic task): one occurrence per local minute."""
    now = now or timezone.now()
    occurrence = timezone.localtime(now).strftime("%Y-%m-%dT%H:%M")
    return campaign_start(campaign_id=campaign_id, occurrence=occurrence, now=now)
