"""The nightly snapshot of the data-quality counts and the trend read from it.

One row per Stockholm day, 90 days kept: a second snapshot the same day replaces the day's
counts (one upsert, so two runs at once cannot make two rows), and every snapshot removes
the days that have fallen out of the window.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from campaigns.data_quality.counts import COUNTS, data_quality_counts
from campaigns.models import DataQualitySnapshot

KEEP_DAYS = 90


def _day(now: datetime.datetime) -> datetime.date:
    return timezone.localdate(now)


def data_quality_snapshot_take(*, now: datetime.datetime | None = None) -> DataQualitySnapshot:
    """Count now and keep the counts as the day's snapshot; prune days older than 90."""
    now = now or timezone.now()
    today = _day(now)
    counts = data_quality_counts(now=now)
    with transaction.atomic():
        DataQualitySnapshot.objects.bulk_create(
            [DataQualitySnapshot(taken_on=today, taken_at=now, counts=counts)],
            update_conflicts=True,
            unique_fields=["taken_on"],
            update_fields=["taken_at", "counts"],
        )
        DataQualitySnapshot.objects.filter(
            taken_on__lte=today - datetime.timedelta(days=KEEP_DAYS)
        ).delete()
    return DataQualitySnapshot.objects.get(taken_on=today)


@dataclass(frozen=True)
class Trend:
    """One count over the last 90 days: ``values`` oldest first, ``None`` for a day with no
    snapshot; today's value is the live count."""

    values: list[int | None]
    days_ago_7: int | None
    days_ago_30: int | None


def data_quality_trend(
    *, counts: dict[str, int], now: datetime.datetime | None = None
) -> dict[str, Trend]:
    """Each count's trend from the snapshots (one query), ending with ``counts`` (today)."""
    today = _day(now or timezone.now())
    first = today - datetime.timedelta(days=KEEP_DAYS - 1)
    by_day = dict(
        DataQualitySnapshot.objects.filter(taken_on__gte=first, taken_on__lt=today).values_list(
            "taken_on", "counts"
        )
    )
    days = [first + datetime.timedelta(days=n) for n in range(KEEP_DAYS - 1)]
    trends = {}
    for kind in COUNTS:
        values: list[int | None] = [by_day.get(day, {}).get(kind.code) for day in days]
        values.append(counts[kind.code])
        trends[kind.code] = Trend(
            values=values,
            days_ago_7=values[-8],
            days_ago_30=values[-31],
        )
    return trends


def data_quality_latest() -> DataQualitySnapshot | None:
    """The newest snapshot (the page says when the trend was last kept)."""
    return DataQualitySnapshot.objects.order_by("-taken_on").first()
