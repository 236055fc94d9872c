"""The checks made at the moment of sending: consent and the member's contact budget.

Consent is checked with ``consent.selectors.contact_permissions``, consent's own send-time
check for a whole batch, read from committed rows just before the batch is sent: four
queries for 500 members instead of two thousand, and one set of rules in the project.

``budget_take`` takes one slot of each member's weekly budget (the club's cap, or the
member's own lower limit), across every channel. Rows are locked in member order; a slot is
taken with a conditional update (``used < cap``), so concurrent senders never exceed it.
When the slot left is the member's last one and a campaign of higher priority still has a
message waiting for that member, the lower one loses and is suppressed ``lower_priority``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import Q

from campaigns.models import Delivery
from consent.models import ContactPreferences
from consent.selectors import STOCKHOLM


def week_of(at: datetime.datetime) -> datetime.date:
    """The Monday (Europe/Stockholm) of the week ``at`` falls in."""
    day = at.astimezone(STOCKHOLM).date()
    return day - datetime.timedelta(days=day.weekday())


def caps_for(member_ids: Iterable[int]) -> dict[int, int]:
    """Each member's weekly cap: the club's, or the member's own lower limit."""
    ids = list(member_ids)
    club = settings.CAMPAIGNS_MAX_MESSAGES_PER_WEEK
    caps = dict.fromkeys(ids, club)
    for member_id, own in ContactPreferences.objects.filter(
        member_id__in=ids, max_messages_per_week__isnull=False
    ).values_list("member_id", "max_messages_per_week"):
        caps[member_id] = min(club, own)
    return caps


@dataclass(frozen=True)
class Rank:
    """A campaign's place in the queue for a member's last slot: higher priority first,
    then the older campaign (lower id)."""

    campaign_id: int
    priority: int


def budget_take(*, member_ids: list[int], rank: Rank, at: datetime.datetime) -> dict[int, str]:
    """Take one slot for each member; ``{member_id: "ok" | "contact_limit" | "lower_priority"}``.

    Call inside the transaction that records the outcome on the deliveries.
    """
    ids = sorted(set(member_ids))
    if not ids:
        return {}
    week = week_of(at)
    caps = caps_for(ids)
    table = "campaigns_contactbudget"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (member_id, week, used) "  # noqa: S608 - fixed identifiers
            "SELECT m, %s, 0 FROM unnest(%s::bigint[]) AS t(m) "
            "ON CONFLICT (member_id, week) DO NOTHING",
            [week, ids],
        )
        # Lock in member order: two batches sharing members never deadlock.
        cursor.execute(
            f"SELECT member_id, used FROM {table} "  # noqa: S608
            "WHERE week = %s AND member_id = ANY(%s) ORDER BY member_id FOR UPDATE",
            [week, ids],
        )
        used = dict(cursor.fetchall())
    outcome: dict[int, str] = {}
    last_slot = [m for m in ids if used.get(m, 0) == caps[m] - 1]
    losers: set[int] = set()
    if last_slot:
        higher = Q(campaign__priority__gt=rank.priority) | Q(
            campaign__priority=rank.priority, campaign_id__lt=rank.campaign_id
        )
        losers = set(
            Delivery.objects.filter(
                higher,
                member_id__in=last_slot,
                status__in=[Delivery.Status.PENDING, Delivery.Status.SENDING],
                budget_taken=False,
                campaign__status="sending",
            )
            .exclude(campaign_id=rank.campaign_id)
            .values_list("member_id", flat=True)
        )
    takers = []
    for member_id in ids:
        if used.get(member_id, 0) >= caps[member_id]:
            outcome[member_id] = "contact_limit"
        elif member_id in losers:
            outcome[member_id] = "lower_priority"
        else:
            takers.append(member_id)
            outcome[member_id] = "ok"
    if takers:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET used = used + 1 "  # noqa: S608
                "WHERE week = %s AND member_id = ANY(%s)",
                [week, takers],
            )
    return outcome
