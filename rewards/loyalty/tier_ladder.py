"""The tier ladder and qualification (reads): the tiers in rank order (cached per process), a
member's qualifying value (points earned, or spend, over the rolling window:
``REWARDS_TIER_BASIS``, ``REWARDS_TIER_WINDOW_DAYS``) and the tier it reaches. Changes of
tier are in ``rewards.loyalty.tiers``."""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db.models import F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from members.models import Member
from members.rows import CompiledValues
from rewards.models import (
    LedgerEntry,
    Purchase,
    Tier,
)

EARNED_CAUSES = [
    LedgerEntry.Cause.PURCHASE,
    LedgerEntry.Cause.RULE,
    LedgerEntry.Cause.CAMPAIGN,
]


def _window_start(now: datetime.datetime) -> datetime.datetime:
    return now - datetime.timedelta(days=settings.REWARDS_TIER_WINDOW_DAYS)


def spend_basis() -> bool:
    return bool(settings.REWARDS_TIER_BASIS == "spend")


def _qualifying_rows(
    *,
    since: datetime.datetime,
    now: datetime.datetime,
    member_ids: list[int] | None = None,
    member_id: int | None = None,
) -> Any:
    """Points earned (or öre spent) in the window as ``{"owner", "value"}`` rows, ``owner``
    the member (the survivor, for what a member merged into it earned)."""
    rows: Any
    if spend_basis():
        purchases = Purchase.objects.filter(
            member__isnull=False, purchased_at__gte=since, purchased_at__lte=now
        )
        if member_ids is not None:
            purchases = purchases.filter(member_id__in=member_ids)
        if member_id is not None:
            purchases = purchases.filter(member_id=member_id)
        rows = purchases.values(owner=F("member_id")).annotate(value=Sum("total_ore"))
    else:
        # A merge moves points by transfer entries and leaves the earn entries on the
        # merged member (members.merging, rewards.merging): what a member merged into this
        # one earned in the window counts for the survivor (its owner).
        entries = LedgerEntry.objects.filter(created_at__gte=since, created_at__lte=now)
        if member_ids is not None:
            entries = entries.filter(
                member_id__in=Member.objects.filter(
                    Q(pk__in=member_ids) | Q(merged_into_id__in=member_ids)
                ).values("pk")
            )
        if member_id is not None:
            entries = entries.filter(
                member_id__in=Member.objects.filter(
                    Q(pk=member_id) | Q(merged_into_id=member_id)
                ).values("pk")
            )
        rows = entries.values(owner=Coalesce("member__merged_into_id", "member_id")).annotate(
            value=Sum(
                "points", filter=Q(kind=LedgerEntry.Kind.EARN, cause__in=EARNED_CAUSES), default=0
            )
            - Sum(
                "points",
                filter=Q(kind=LedgerEntry.Kind.REVERSE, cause=LedgerEntry.Cause.RETURN),
                default=0,
            )
        )
    return rows


def qualifying_values(
    *, member_ids: list[int] | None = None, now: datetime.datetime | None = None
) -> dict[int, int]:
    """Points earned (or öre spent) in the window, per member, in one query."""
    now = now or timezone.now()
    rows = _qualifying_rows(since=_window_start(now), now=now, member_ids=member_ids)
    return {row["owner"]: max(0, row["value"] or 0) for row in rows}


# One member's value (the tier panel on "My pages", tier evaluation), compiled once per
# process and basis (members.rows): the same statement as ``qualifying_values`` for one id.
_QUALIFYING_ONE: dict[bool, CompiledValues] = {}


def qualifying_value(
    *, member_id: int, now: datetime.datetime | None = None, with_members: Sequence[int] = ()
) -> int:
    """``with_members``: members whose value counts for this one too (a merge evaluates the
    survivor's tier before the tombstone link that makes them count is written)."""
    now = now or timezone.now()
    if with_members:
        values = qualifying_values(member_ids=[member_id, *with_members], now=now)
        return sum(values.values())
    basis = spend_basis()
    query = _QUALIFYING_ONE.get(basis)
    if query is None:
        query = _QUALIFYING_ONE[basis] = CompiledValues(
            lambda member_id, since, now: _qualifying_rows(
                member_id=member_id, since=since, now=now
            ),
            "member_id",
            "since",
            "now",
            datetimes=["since", "now"],
        )
    rows = query(member_id=member_id, since=_window_start(now), now=now)
    return max(0, rows[0]["value"] or 0) if rows else 0


def tier_threshold(tier: Tier) -> int:
    return tier.threshold_spend_ore if spend_basis() else tier.threshold_points


def ladder() -> list[Tier]:
    return list(Tier.objects.order_by("rank", "pk"))


# The purchase path reads the ladder from a per-process snapshot, refreshed like the earning
# rules every ``REWARDS_RULES_CACHE_SECONDS``: a tier added or re-ranked by staff applies to
# purchases within that time, and the nightly re-evaluation (which reads it fresh) is exact.
_ladder_lock = threading.Lock()
_ladder_cache: dict[str, Any] = {"until": 0.0, "tiers": []}


def ladder_cached() -> list[Tier]:
    now = time.monotonic()
    if _ladder_cache["until"] > now:
        return list(_ladder_cache["tiers"])
    with _ladder_lock:
        if _ladder_cache["until"] <= now:
            _ladder_cache["tiers"] = ladder()
            _ladder_cache["until"] = now + settings.REWARDS_RULES_CACHE_SECONDS
        return list(_ladder_cache["tiers"])


def ladder_cache_clear() -> None:
    with _ladder_lock:
        _ladder_cache["until"] = 0.0


def tier_for_value(value: int, tiers: list[Tier]) -> Tier | None:
    """The highest tier whose threshold ``value`` reaches."""
    best = None
    for tier in tiers:
        if value >= tier_threshold(tier) and (best is None or tier.rank >= best.rank):
            best = tier
    return best
