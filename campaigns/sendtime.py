"""The checks made at the moment of sending: consent and the member's contact budget.

``permissions_for`` is consent's send-time check (``consent.selectors.contact_permission``)
for a whole send batch at once: the same rules in the same order, read from committed rows
with fresh queries just before the batch is sent (a test holds the two to the same answers,
reason by reason). A batch of 500 costs four queries instead of two thousand.

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

from consent.models import Channel as ConsentChannel
from consent.models import ConsentState, ContactPreferences, Purpose
from consent.selectors import STOCKHOLM, Decision, _quiet_end
from members.models import Member


def permissions_for(
    *, member_ids: Iterable[int], purpose: str, channel: str, at: datetime.datetime
) -> dict[int, Decision]:
    """``contact_permission`` for many members: ``{member_id: Decision}``."""
    ids = list(dict.fromkeys(member_ids))
    purpose_obj = Purpose.objects.filter(code=purpose, active=True).first()
    if purpose_obj is None:
        return dict.fromkeys(ids, Decision(False, "unknown_purpose"))
    if channel not in ConsentChannel.values or (
        purpose_obj.channel and purpose_obj.channel != channel
    ):
        return dict.fromkeys(ids, Decision(False, "channel_not_covered"))
    rows = {
        row["pk"]: row
        for row in Member.objects.filter(pk__in=ids).values(
            "pk", "erased_at", "user_id", "user__is_active"
        )
    }
    states: dict[int, bool] = {}
    prefs: dict[int, ContactPreferences] = {}
    if purpose_obj.needs_consent:
        states = dict(
            ConsentState.objects.filter(
                member_id__in=ids, purpose=purpose_obj, channel=purpose_obj.channel
            ).values_list("member_id", "granted")
        )
        prefs = {p.member_id: p for p in ContactPreferences.objects.filter(member_id__in=ids)}
    local = at.astimezone(STOCKHOLM)
    decisions: dict[int, Decision] = {}
    for member_id in ids:
        row = rows.get(member_id)
        if row is None or row["erased_at"] is not None:
            decisions[member_id] = Decision(False, "erased")
            continue
        if row["user_id"] is not None and not row["user__is_active"]:
            decisions[member_id] = Decision(False, "blocked")
            continue
        if purpose_obj.needs_consent:
            state = states.get(member_id)
            if state is None:
                decisions[member_id] = Decision(False, "no_consent")
                continue
            if not state:
                decisions[member_id] = Decision(False, "withdrawn")
                continue
            pref = prefs.get(member_id)
            if pref is not None:
                if pref.paused_until is not None and pref.paused_until > at:
                    decisions[member_id] = Decision(False, "paused", not_before=pref.paused_until)
                    continue
                if channel in (ConsentChannel.EMAIL, ConsentChannel.SMS) and pref.in_quiet_hours(
                    local.time()
                ):
                    decisions[member_id] = Decision(
                        False, "quiet_hours", not_before=_quiet_end(pref, local)
                    )
                    continue
        decisions[member_id] = Decision(True, "ok")
    return decisions


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
    from campaigns.models import Delivery

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
