"""Triggered campaigns: timeline events (joined, tier changed, checked in) and daily triggers."""

from __future__ import annotations

import datetime
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from campaigns.models import (
    Campaign,
    Delivery,
)
from campaigns.sending import audience
from campaigns.sending.fanout import sends_queue
from members.activity import Kind
from members.models import ActivityEvent
from rewards.models import PointLot, Purchase

EVENT_TRIGGERS = {
    str(Kind.JOINED): Campaign.Trigger.JOINED,
    str(Kind.TIER_CHANGED): Campaign.Trigger.TIER_CHANGED,
    str(Kind.CHECKED_IN): Campaign.Trigger.CHECKED_IN,
}


def _trigger_insert(
    campaign: Campaign, members: Any, occurrence: str, now: datetime.datetime
) -> list[int]:
    variants = list(campaign.variants.order_by("code"))
    if not variants or not campaign.channels:
        return []
    audience.insert_deliveries(
        campaign=campaign,
        members=members,
        variants=variants,
        channel=campaign.channels[0],
        occurrence=occurrence,
        now=now,
    )
    return list(
        Delivery.objects.filter(
            campaign=campaign, occurrence=occurrence, status=Delivery.Status.PENDING
        ).values_list("pk", flat=True)
    )


def trigger_event_handle(event: ActivityEvent) -> None:
    """Timeline consumer: send every active campaign triggered by this kind of event to the
    member, once per event (the occurrence is the event id)."""
    trigger = EVENT_TRIGGERS.get(event.kind)
    if trigger is None:
        return
    now = timezone.now()
    for campaign in Campaign.objects.filter(
        status=Campaign.Status.SENDING,
        schedule_kind=Campaign.ScheduleKind.TRIGGER,
        trigger=trigger,
    ).select_related("segment"):
        members = audience.audience(campaign).filter(pk=event.member_id)
        ids = _trigger_insert(campaign, members, f"event-{event.pk}", now)
        if ids:
            transaction.on_commit(partial(sends_queue, ids))


def triggers_daily(*, now: datetime.datetime | None = None) -> int:
    """Beat, daily: birthdays today, members whose last purchase was exactly N days ago, and
    members with points expiring in exactly N days. Each fires once (dated occurrence)."""
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    queued = 0
    for campaign in Campaign.objects.filter(
        status=Campaign.Status.SENDING, schedule_kind=Campaign.ScheduleKind.TRIGGER
    ).select_related("segment"):
        members = audience.audience(campaign)
        days = campaign.trigger_days or 30
        if campaign.trigger == Campaign.Trigger.BIRTHDAY:
            members = members.filter(birth_date__month=today.month, birth_date__day=today.day)
            occurrence = f"birthday-{today.year}"
        elif campaign.trigger == Campaign.Trigger.LAPSED:
            day = today - datetime.timedelta(days=days)
            latest = Purchase.objects.filter(member=OuterRef("pk")).order_by("-purchased_at")
            members = members.annotate(last=latest.values("purchased_at")[:1]).filter(
                last__date=day
            )
            occurrence = f"lapsed-{today.isoformat()}"
        elif campaign.trigger == Campaign.Trigger.POINTS_EXPIRING:
            day = today + datetime.timedelta(days=days)
            members = members.filter(
                Exists(
                    PointLot.objects.filter(
                        member=OuterRef("pk"), remaining__gt=0, expires_at__date=day
                    )
                )
            )
            occurrence = f"expiring-{today.isoformat()}"
        else:
            continue
        with transaction.atomic():
            ids = _trigger_insert(campaign, members, occurrence, now)
            transaction.on_commit(partial(sends_queue, ids))
        queued += len(ids)
    return queued
