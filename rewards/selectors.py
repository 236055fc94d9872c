"""Reads for the points pages, the API and the back-office."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet, Sum
from django.utils import timezone
from django.utils.translation import get_language, gettext

from members.models import ActivityEvent, Member
from members.rows import (
    CompiledQuery,
    CompiledValues,
    RowReader,
    column,
    fetch_one,
    relation_cache,
    table,
)
from members.selectors import member_identify
from rewards.ledger.snapshots import balance_snapshot
from rewards.loyalty import tier_ladder as tier_rules
from rewards.models import (
    CheckIn,
    LedgerEntry,
    MemberTier,
    PointBalance,
    PointLot,
    Purchase,
    PurchaseLine,
    Reward,
)
from rewards.rules import earning
from rewards.rules.earning import BonusPrefetch

_MEMBER = RowReader(Member, "m")
_MEMBER_TIER = RowReader(MemberTier, "t")


def member_by_number_with_tier(
    number: str, *, bonus_day: datetime.date | None = None
) -> tuple[Member | None, BonusPrefetch | None]:
    """The active member with this membership number, their tier in the same row
    (``member.member_tier`` costs no query) and, with ``bonus_day``, their personal earning
    multipliers for that day (``earning.bonus_prefetch_sql``). Every purchase at a till
    starts here, so it is one hand-joined SELECT rather than a queryset compiled per call
    (members.rows); the member part is the same as ``Member.objects.filter(
    erased_at__isnull=True, merged_into__isnull=True, membership_number=number)
    .select_related("member_tier").first()``."""
    bonus_sql, bonus_params = (
        earning.bonus_prefetch_sql(bonus_day) if bonus_day is not None else ("NULL", [])
    )
    sql = (
        f"WITH bonus_member AS (SELECT * FROM {table(Member, connection)} "  # noqa: S608
        f"WHERE {column(Member, 'membership_number', connection)} = %s "
        f"AND {column(Member, 'erased_at', connection)} IS NULL "
        # a merged member's number: not here, but through member_identify, to the survivor
        f"AND {column(Member, 'merged_into', connection)} IS NULL) "
        f"SELECT {_MEMBER.layout(connection).select}, "
        f"{_MEMBER_TIER.layout(connection).select}, {bonus_sql} "
        f"FROM bonus_member m LEFT JOIN {table(MemberTier, connection)} t "
        f"ON t.{column(MemberTier, 'member', connection)} = m.{column(Member, 'pk', connection)}"
    )
    row = fetch_one(sql, [number, *bonus_params])
    if row is None:
        return None, None
    member = _MEMBER.build(row, 0, connection)
    assert member is not None
    member_tier = _MEMBER_TIER.build(row, _MEMBER.width, connection)
    relation_cache(member, "member_tier", member_tier)
    if member_tier is not None:
        relation_cache(member_tier, "member", member)
    bonus = earning.bonus_prefetch(bonus_day, row[-1]) if bonus_day is not None else None
    return member, bonus


def member_for_points(identifiers: dict[str, Any]) -> Member:
    """The member named by exactly one identifier, with their tier in the same query when
    identified by membership number (the tills' usual way)."""
    return member_for_purchase(identifiers)[0]


def member_for_purchase(
    identifiers: dict[str, Any], *, bonus_day: datetime.date | None = None
) -> tuple[Member, BonusPrefetch | None]:
    """:func:`member_for_points`, and with ``bonus_day`` the member's personal multipliers
    for that day read in the same query (by membership number; otherwise None, and earning
    asks the providers itself)."""
    number = identifiers.get("membership_number")
    if number:
        member, bonus = member_by_number_with_tier(number.replace(" ", ""), bonus_day=bonus_day)
        if member is not None:
            return member, bonus
    return member_identify(**identifiers), None


# ``PointBalance.objects.filter(member=member).first()``, compiled once (members.rows).
_BALANCE: CompiledQuery[PointBalance] = CompiledQuery(
    lambda member_id: PointBalance.objects.filter(member=member_id).order_by("pk")[:1],
    "member_id",
)


def balance_get(*, member: Member) -> dict[str, int]:
    found = _BALANCE(member_id=member.pk)
    return balance_snapshot(found[0] if found else None)


@dataclass(frozen=True)
class DatedPoints:
    date: datetime.date
    points: int


def pending_by_date(*, member: Member) -> list[DatedPoints]:
    """Pending points grouped by the (Stockholm) day they become available."""
    rows: dict[datetime.date, int] = {}
    for lot in PointLot.objects.filter(member=member, matured=False, remaining__gt=0).order_by(
        "available_at"
    ):
        day = timezone.localtime(lot.available_at).date()
        rows[day] = rows.get(day, 0) + lot.remaining
    return [DatedPoints(day, points) for day, points in rows.items()]


def upcoming_expiries(*, member: Member, limit: int = 5) -> list[DatedPoints]:
    """The next expiry dates and how many points expire on each (the day before the lot's
    expiry instant is the last day the points can be used)."""
    rows: dict[datetime.date, int] = {}
    lots = PointLot.objects.filter(member=member, remaining__gt=0, expires_at__gt=timezone.now())
    for lot in lots.order_by("expires_at", "id"):
        day = timezone.localtime(lot.expires_at).date() - datetime.timedelta(days=1)
        rows[day] = rows.get(day, 0) + lot.remaining
        if len(rows) > limit:
            break
    return [DatedPoints(day, points) for day, points in list(rows.items())[:limit]]


@dataclass(frozen=True)
class PointsSummary:
    balance: dict[str, int]
    pending: list[DatedPoints]
    expiries: list[DatedPoints]
    # The live news' starting point (rewards.live): the member's newest timeline event of
    # the last LIVE_WINDOW, 0 without one.
    live_cursor: int = 0


# How far back the live news looks (rewards.live): a page's poll announces the events of
# the last hour that are newer than its cursor.
LIVE_WINDOW = datetime.timedelta(hours=1)


_SUMMARY_SQL: dict[str, str] = {}


def _summary_sql() -> str:
    """Balance, pending points per day and the next expiries, one statement (written once
    per process from the models' metadata)."""
    vendor = connection.vendor
    if vendor not in _SUMMARY_SQL:
        lot, bal = table(PointLot, connection), table(PointBalance, connection)

        def lc(name: str) -> str:
            return column(PointLot, name, connection)

        def bc(name: str) -> str:
            return column(PointBalance, name, connection)

        ev = table(ActivityEvent, connection)

        def ec(name: str) -> str:
            return column(ActivityEvent, name, connection)

        _SUMMARY_SQL[vendor] = (
            f"SELECT 'b', NULL::date, {bc('pending')}, {bc('posted')}, {bc('reserved')} "  # noqa: S608
            f"FROM {bal} WHERE {bc('member')} = %s "
            f"UNION ALL (SELECT 'p', ({lc('available_at')} AT TIME ZONE %s)::date AS day, "
            f"SUM({lc('remaining')})::bigint, 0, 0 FROM {lot} WHERE {lc('member')} = %s "
            f"AND NOT {lc('matured')} AND {lc('remaining')} > 0 GROUP BY day ORDER BY day "
            f"LIMIT %s) "
            f"UNION ALL (SELECT 'e', ({lc('expires_at')} AT TIME ZONE %s)::date - 1 AS day, "
            f"SUM({lc('remaining')})::bigint, 0, 0 FROM {lot} WHERE {lc('member')} = %s "
            f"AND {lc('remaining')} > 0 AND {lc('expires_at')} > %s GROUP BY day ORDER BY day "
            f"LIMIT %s) "
            # The live cursor, through the timeline's (member, time) index: "+ 0" keeps the
            # planner from reading the whole table's primary key backwards for a MAX(id).
            f"UNION ALL (SELECT 'c', NULL::date, COALESCE(MAX({ec('pk')} + 0), 0)::bigint, 0, 0 "
            f"FROM {ev} WHERE {ec('member')} = %s AND {ec('created_at')} >= %s)"
        )
    return _SUMMARY_SQL[vendor]


def points_summary(
    *, member: Member, pending_limit: int = 1000, expiry_limit: int = 5
) -> PointsSummary:
    """What :func:`balance_get`, :func:`pending_by_date` and :func:`upcoming_expiries` say,
    summed by PostgreSQL in one query (the points page and its panel on "My pages")."""
    zone = timezone.get_current_timezone_name()
    now = timezone.now()
    params: list[Any] = [
        member.pk,
        zone,
        member.pk,
        pending_limit,
        zone,
        member.pk,
        now,
        expiry_limit,
        member.pk,
        now - LIVE_WINDOW,
    ]
    with connection.cursor() as cursor:
        cursor.execute(_summary_sql(), params)
        rows = cursor.fetchall()
    balance = balance_snapshot(None)
    pending, expiries = [], []
    live_cursor = 0
    for part, day, first, posted, reserved in rows:
        if part == "c":
            live_cursor = int(first)
        elif part == "b":
            balance = {
                "available": posted - reserved,
                "pending": first,
                "reserved": reserved,
                "posted": posted,
            }
        elif part == "p":
            pending.append(DatedPoints(day, int(first)))
        else:
            expiries.append(DatedPoints(day, int(first)))
    return PointsSummary(
        balance=balance, pending=pending, expiries=expiries, live_cursor=live_cursor
    )


def ledger_history_rows(*, member: Member | int) -> QuerySet[LedgerEntry, Any]:
    """The entries a member reads (everything but internal moves: maturing), latest first, as
    the columns the points page shows: dicts, no model instances."""
    return (
        LedgerEntry.objects.filter(member=member)
        .exclude(kind=LedgerEntry.Kind.MATURE)
        .order_by("-created_at", "-id")
        .values(
            "created_at",
            "kind",
            "points",
            "delta_pending",
            "delta_posted",
            "explanation",
            "reason",
            "store__name",
            "purchase_id",  # the receipt the row links to
        )
    )


def ledger_recent(*, member: Member, limit: int = 10) -> list[LedgerEntry]:
    return list(
        LedgerEntry.objects.filter(member=member)
        .select_related("store")
        .order_by("-created_at", "-id")[:limit]
    )


def purchases_for_member_rows(*, member: Member | int) -> QuerySet[Purchase, Any]:
    """A member's purchases, latest first, as the columns the points page shows; their lines
    come from :func:`purchase_lines_rows`."""
    return (
        Purchase.objects.filter(member=member)
        .order_by("-purchased_at", "-id")
        .values("id", "purchased_at", "total_ore", "points_earned", "store__name")
    )


def _purchase_lines_query(purchase_ids: list[int]) -> QuerySet[PurchaseLine, Any]:
    return (
        PurchaseLine.objects.filter(purchase_id__in=purchase_ids)
        .order_by("purchase_id", "line_no")
        .values(
            "purchase_id",
            "sku",
            "quantity",
            "unit_price_ore",
            "discount_ore",
            "points",
            "returned_quantity",
            "product__name",
        )
    )


# Compiled once per process (members.rows); the ids go as one array parameter.
_PURCHASE_LINES = CompiledValues(_purchase_lines_query, "purchase_ids", lists=["purchase_ids"])


def purchase_lines_rows(purchase_ids: list[int]) -> dict[int, list[Any]]:
    """The lines of these purchases, in line order, with their product's name (one query)."""
    lines: dict[int, list[Any]] = {}
    if not purchase_ids:
        return lines
    for line in _PURCHASE_LINES(purchase_ids=list(purchase_ids)):
        lines.setdefault(line["purchase_id"], []).append(line)
    return lines


# A claim spends points with this reference (rewards.catalogue): the reward, by code.
REWARD_REFERENCE = "reward:"


def _grouped(points: int, language: str) -> str:
    """``rewards.templatetags.loyalty.points_grouped`` without importing a template library."""
    text = f"{points:,}"
    return text if language == "en" else text.replace(",", "\u00a0")


def entries_text_rows(entries: list[dict[str, Any]], language: str) -> list[list[str]]:
    """Explanation lines of rows of :func:`ledger_history_rows` in the member's language
    ("+120 p: 2x på löparskor"); points spent on a reward also say which reward, by its name
    in the member's language (one query for the page), and points spent at a checkout say
    that."""
    redeem = LedgerEntry.Kind.REDEEM
    codes = {
        entry["reason"].removeprefix(REWARD_REFERENCE)
        for entry in entries
        if entry["kind"] == redeem and entry["reason"].startswith(REWARD_REFERENCE)
    }
    names = (
        {r.code: r.name_for(language) for r in Reward.objects.filter(code__in=codes)}
        if codes
        else {}
    )
    key = "sv" if language == "sv" else "en"
    texts = []
    for entry in entries:
        lines = [
            # the points grouped as the page's language writes them: "+1 298 p", "+1,298 p"
            f"+{_grouped(int(part.get('points', 0)), key)} p: {part.get(key) or part.get('en', '')}"
            for part in entry["explanation"] or []
        ]
        if entry["kind"] == redeem:
            # Spent on a reward: its name. Spent at a till or a web shop (the API's redeem
            # or a captured reservation, whose reference is the shop's own): say so, never
            # a bare "Used -1000".
            name = (
                names.get(entry["reason"].removeprefix(REWARD_REFERENCE))
                if entry["reason"].startswith(REWARD_REFERENCE)
                else None
            )
            lines.append(name or gettext("Paid with points at the checkout"))
        texts.append(lines)
    return texts


def liability() -> dict[str, int]:
    """Outstanding points (available + pending + reserved) and their value in öre."""
    totals = PointBalance.objects.aggregate(posted=Sum("posted"), pending=Sum("pending"))
    points = (totals["posted"] or 0) + (totals["pending"] or 0)
    return {
        "points": points,
        "posted": totals["posted"] or 0,
        "pending": totals["pending"] or 0,
        "value_ore": points * settings.REWARDS_POINT_VALUE_ORE,
    }


@dataclass(frozen=True)
class NextTier:
    """How far a member is from the next tier: ``remaining`` points earned (or öre spent,
    when ``spend_basis``) in the qualifying window."""

    tier: Any  # rewards.models.Tier
    remaining: int
    spend_basis: bool


def next_tiers_bulk(
    *, member_ids: list[int], now: datetime.datetime | None = None
) -> dict[int, NextTier]:
    """The next tier and what is left to reach it, for many members in three queries (the
    ladder, their tiers, their qualifying values), with ``tiers``' own thresholds and window.
    The next tier is the lowest one above the member's tier that their qualifying value has
    not reached yet (a member who already qualifies for a tier is upgraded at the next
    purchase or nightly run). Members with nothing left to reach are absent."""
    now = now or timezone.now()
    ladder = tier_rules.ladder()
    if not ladder or not member_ids:
        return {}
    current = dict(
        MemberTier.objects.filter(member_id__in=member_ids).values_list("member_id", "tier_id")
    )
    rank = {tier.pk: tier.rank for tier in ladder}
    values = tier_rules.qualifying_values(member_ids=list(member_ids), now=now)
    spend_basis = tier_rules.spend_basis()
    out: dict[int, NextTier] = {}
    for member_id in member_ids:
        tier_id = current.get(member_id)
        value = values.get(member_id, 0)
        target = next(
            (
                t
                for t in ladder
                if (tier_id is None or t.rank > rank.get(tier_id, -1))
                and tier_rules.tier_threshold(t) > value
            ),
            None,
        )
        if target is not None:
            out[member_id] = NextTier(
                tier=target,
                remaining=tier_rules.tier_threshold(target) - value,
                spend_basis=spend_basis,
            )
    return out


ARRIVALS_SHOWN = 20


def checkins_today(*, store_id: int | None = None, limit: int = ARRIVALS_SHOWN) -> list[Any]:
    """Today's check-ins (door scanners, the desk, invitation tickets), latest first, with
    the member, the store and the member's tier (``checkin.tier``, or None)."""
    start = timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time.min))
    queryset = CheckIn.objects.filter(created_at__gte=start, member__erased_at__isnull=True)
    if store_id is not None:
        queryset = queryset.filter(store_id=store_id)
    checkins = list(
        queryset.select_related("member", "store").order_by("-created_at", "-id")[:limit]
    )
    tiers = dict(
        MemberTier.objects.filter(member_id__in={c.member_id for c in checkins}).values_list(
            "member_id", "tier__name_sv" if _swedish() else "tier__name_en"
        )
    )
    for checkin in checkins:
        checkin.tier_name = tiers.get(checkin.member_id)  # type: ignore[attr-defined]
    return checkins


def _swedish() -> bool:
    return (get_language() or settings.LANGUAGE_CODE).startswith("sv")


def visit_key_for(member_id: int, store_id: int) -> str:
    """The idempotency key of a member's one visit to a store today (desk and door share it)."""
    return f"visit:{member_id}:{store_id}:{timezone.localdate().isoformat()}"


def visit_today(*, member: Member, store_id: int) -> tuple[Any, int] | None:
    """Today's visit of the member at the store (the desk's or the door's check-in, one per
    day: ``rewards.rules.events.visit_key``) and the points it earned, or None."""
    checkin = CheckIn.objects.filter(idempotency_key=visit_key_for(member.pk, store_id)).first()
    if checkin is None:
        return None
    points = (
        LedgerEntry.objects.filter(idempotency_key__startswith=f"checkin:{checkin.pk}:").aggregate(
            total=Sum("points")
        )["total"]
        or 0
    )
    return checkin, int(points)
