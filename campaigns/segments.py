"""Compile segment criteria (a JSON tree) to a Django ``Q``: never SQL from strings.

A criteria tree is a group ``{"op": "and" | "or", "children": [...]}`` whose children are
groups or conditions ``{"field": ..., ...}``; any node may carry ``"negate": true``. Fields,
their parameters and what they mean are listed in ``FIELDS`` and docs/campaigns.md. Every
value is validated before a query is built, so bad input raises ``SegmentCriteriaError``
and never reaches the database.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.errors import SegmentCriteriaError
from consent.models import ConsentState, MemberInterest
from members.models import Member
from rewards.models import CheckIn, LedgerEntry, PointBalance, Purchase, PurchaseLine

COMPARISONS: dict[str, Any] = {
    "gte": GreaterThanOrEqual,
    "gt": GreaterThan,
    "lte": LessThanOrEqual,
    "lt": LessThan,
    "eq": Exact,
}
MAX_DEPTH = 5
MAX_CONDITIONS = 50
MAX_DAYS = 3660


def _int(node: dict[str, Any], key: str, *, low: int = 0, high: int = 10**9) -> int:
    value = node.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SegmentCriteriaError(
            _("“%(key)s” of “%(field)s” must be a whole number from %(low)s to %(high)s.")
            % {"key": key, "field": node.get("field"), "low": low, "high": high}
        )
    return value


def _codes(node: dict[str, Any]) -> list[str]:
    value = node.get("value")
    if isinstance(value, str):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or len(value) > 200
        or not all(isinstance(v, str) and 0 < len(v) <= 64 for v in value)
    ):
        raise SegmentCriteriaError(
            _("“%(field)s” needs one or more codes.") % {"field": node.get("field")}
        )
    return value


def _cmp(node: dict[str, Any]) -> Any:
    cmp = node.get("cmp", "gte")
    if cmp not in COMPARISONS:
        raise SegmentCriteriaError(
            _("Unknown comparison “%(cmp)s”; use gte, gt, lte, lt or eq.") % {"cmp": cmp}
        )
    return COMPARISONS[cmp]


def _since(node: dict[str, Any], now: datetime.datetime) -> datetime.datetime | None:
    """The optional period: ``"days": N`` means the last N days."""
    if node.get("days") is None:
        return None
    return now - datetime.timedelta(days=_int(node, "days", low=1, high=MAX_DAYS))


def _compare(expression: Any, node: dict[str, Any], *, scale: int = 1) -> Q:
    lookup = _cmp(node)
    value = _int(node, "value", low=0, high=10**12) * scale
    return Q(lookup(expression, Value(value)))


def _sum(queryset: QuerySet[Any], field: str) -> Any:
    total = (
        queryset.filter(member=OuterRef("pk"))
        .order_by()
        .values("member")
        .annotate(total=Sum(field))
        .values("total")
    )
    return Coalesce(Subquery(total, output_field=IntegerField()), Value(0))


def _count(queryset: QuerySet[Any]) -> Any:
    total = (
        queryset.filter(member=OuterRef("pk"))
        .order_by()
        .values("member")
        .annotate(total=Count("pk"))
        .values("total")
    )
    return Coalesce(Subquery(total, output_field=IntegerField()), Value(0))


def _purchases(node: dict[str, Any], now: datetime.datetime) -> QuerySet[Purchase]:
    qs = Purchase.objects.all()
    since = _since(node, now)
    if since is not None:
        qs = qs.filter(purchased_at__gte=since)
    return qs


# --- conditions ------------------------------------------------------------------------------


def _tier(node: dict[str, Any], now: datetime.datetime) -> Q:
    return Q(member_tier__tier__code__in=_codes(node))


def _points_balance(node: dict[str, Any], now: datetime.datetime) -> Q:
    available = (
        PointBalance.objects.filter(member=OuterRef("pk"))
        .values("posted")
        .annotate(spendable=F("posted") - F("reserved"))
        .values("spendable")
    )
    return _compare(Coalesce(Subquery(available, output_field=IntegerField()), Value(0)), node)


def _points_earned(node: dict[str, Any], now: datetime.datetime) -> Q:
    entries = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EARN)
    since = _since(node, now)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    # A merge leaves the earn entries on the merged member (rewards.merging): what members
    # merged into this one earned counts for it, as for its tier.
    merged_in = (
        entries.filter(member__merged_into=OuterRef("pk"))
        .order_by()
        .values("member__merged_into")
        .annotate(total=Sum("points"))
        .values("total")
    )
    return _compare(
        _sum(entries, "points")
        + Coalesce(Subquery(merged_in, output_field=IntegerField()), Value(0)),
        node,
    )


def _spend(node: dict[str, Any], now: datetime.datetime) -> Q:
    # Value in SEK; stored in öre.
    return _compare(_sum(_purchases(node, now), "total_ore"), node, scale=100)


def _purchase_count(node: dict[str, Any], now: datetime.datetime) -> Q:
    return _compare(_count(_purchases(node, now)), node)


def _days_since(model: Any, field: str, node: dict[str, Any], now: datetime.datetime) -> Q:
    """Days since the latest ``model`` row; members without one count as "forever"."""
    days = _int(node, "value", low=0, high=MAX_DAYS)
    cmp = node.get("cmp", "gte")
    if cmp not in COMPARISONS:
        _cmp(node)
    latest = Subquery(
        model.objects.filter(member=OuterRef("pk"))
        .order_by()
        .values("member")
        .annotate(latest=Max(field))
        .values("latest")
    )
    cutoff = now - datetime.timedelta(days=days)
    none = ~Exists(model.objects.filter(member=OuterRef("pk")))
    lookup: Any
    if cmp in ("gte", "gt"):
        lookup = LessThanOrEqual if cmp == "gte" else LessThan
        return Q(lookup(latest, Value(cutoff))) | Q(none)
    if cmp in ("lte", "lt"):
        lookup = GreaterThanOrEqual if cmp == "lte" else GreaterThan
        return Q(lookup(latest, Value(cutoff)))
    day_start = cutoff - datetime.timedelta(days=1)
    return Q(GreaterThan(latest, Value(day_start))) & Q(LessThanOrEqual(latest, Value(cutoff)))


def _days_since_purchase(node: dict[str, Any], now: datetime.datetime) -> Q:
    return _days_since(Purchase, "purchased_at", node, now)


def _days_since_checkin(node: dict[str, Any], now: datetime.datetime) -> Q:
    return _days_since(CheckIn, "created_at", node, now)


def _bought(lookup: str) -> Callable[[dict[str, Any], datetime.datetime], Q]:
    def condition(node: dict[str, Any], now: datetime.datetime) -> Q:
        lines = PurchaseLine.objects.filter(
            purchase__member=OuterRef("pk"), **{f"{lookup}__in": _codes(node)}
        )
        since = _since(node, now)
        if since is not None:
            lines = lines.filter(purchase__purchased_at__gte=since)
        return Q(Exists(lines))

    return condition


def _store(node: dict[str, Any], now: datetime.datetime) -> Q:
    codes = _codes(node)
    mode = node.get("mode", "home")
    if mode == "home":
        return Q(home_store__code__in=codes)
    if mode == "purchased":
        return Q(Exists(_purchases(node, now).filter(member=OuterRef("pk"), store__code__in=codes)))
    raise SegmentCriteriaError(_("Store mode must be “home” or “purchased”."))


def _channel(node: dict[str, Any], now: datetime.datetime) -> Q:
    kinds = _codes(node)
    if not set(kinds) <= {"store", "webshop"}:
        raise SegmentCriteriaError(_("Channel must be “store” or “webshop”."))
    return Q(Exists(_purchases(node, now).filter(member=OuterRef("pk"), store__kind__in=kinds)))


def _age(node: dict[str, Any], now: datetime.datetime) -> Q:
    today = timezone.localtime(now).date()
    q = Q(birth_date__isnull=False)
    if node.get("min") is not None:
        low = _int(node, "min", low=0, high=130)
        q &= Q(birth_date__lte=_years_before(today, low))
    if node.get("max") is not None:
        high = _int(node, "max", low=0, high=130)
        # Younger than max + 1 years: born after that date.
        q &= Q(birth_date__gt=_years_before(today, high + 1))
    if node.get("min") is None and node.get("max") is None:
        raise SegmentCriteriaError(_("An age range needs a minimum, a maximum or both."))
    return q


def _years_before(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _language(node: dict[str, Any], now: datetime.datetime) -> Q:
    codes = _codes(node)
    if not set(codes) <= set(Member.Language.values):
        raise SegmentCriteriaError(_("Language must be “sv” or “en”."))
    return Q(preferred_language__in=codes)


def _interest(node: dict[str, Any], now: datetime.datetime) -> Q:
    return Q(
        Exists(
            MemberInterest.objects.filter(member=OuterRef("pk"), interest__code__in=_codes(node))
        )
    )


def _consent(node: dict[str, Any], now: datetime.datetime) -> Q:
    codes = _codes(node)
    return Q(
        Exists(
            ConsentState.objects.filter(
                member=OuterRef("pk"), purpose__code__in=codes, granted=True
            )
        )
    )


def _member_since(node: dict[str, Any], now: datetime.datetime) -> Q:
    """Member for at least (gte) / at most (lte) N days."""
    days = _int(node, "value", low=0, high=MAX_DAYS)
    cutoff = now - datetime.timedelta(days=days)
    cmp = node.get("cmp", "gte")
    if cmp in ("gte", "gt"):
        return Q(joined_at__lte=cutoff) if cmp == "gte" else Q(joined_at__lt=cutoff)
    if cmp in ("lte", "lt"):
        return Q(joined_at__gte=cutoff) if cmp == "lte" else Q(joined_at__gt=cutoff)
    _cmp(node)
    return Q(joined_at__gt=cutoff - datetime.timedelta(days=1), joined_at__lte=cutoff)


FIELDS: dict[str, Callable[[dict[str, Any], datetime.datetime], Q]] = {
    "tier": _tier,
    "points_balance": _points_balance,
    "points_earned": _points_earned,
    "spend": _spend,
    "purchase_count": _purchase_count,
    "days_since_purchase": _days_since_purchase,
    "bought_category": _bought("category__code"),
    "bought_product": _bought("product__sku"),
    "store": _store,
    "channel": _channel,
    "age": _age,
    "language": _language,
    "interest": _interest,
    "consent": _consent,
    "days_since_checkin": _days_since_checkin,
    "member_since_days": _member_since,
}


def _compile(node: Any, now: datetime.datetime, depth: int, budget: list[int]) -> Q:
    if not isinstance(node, dict):
        raise SegmentCriteriaError(_("Each condition must be an object."))
    if depth > MAX_DEPTH:
        raise SegmentCriteriaError(_("Groups may be nested at most %(n)s deep.") % {"n": MAX_DEPTH})
    if "op" in node:
        op = node["op"]
        children = node.get("children")
        if op not in ("and", "or") or not isinstance(children, list):
            raise SegmentCriteriaError(_("A group needs “op” (and/or) and a list of children."))
        q = Q()
        for child in children:
            part = _compile(child, now, depth + 1, budget)
            q = (q & part) if op == "and" else (q | part)
        if not children:
            q = Q() if op == "and" else Q(pk__in=[])
    else:
        budget[0] += 1
        if budget[0] > MAX_CONDITIONS:
            raise SegmentCriteriaError(_("At most %(n)s conditions.") % {"n": MAX_CONDITIONS})
        field = node.get("field")
        if field not in FIELDS:
            raise SegmentCriteriaError(_("Unknown condition “%(field)s”.") % {"field": field})
        q = FIELDS[field](node, now)
    if node.get("negate"):
        q = ~q
    return q


def criteria_compile(criteria: dict[str, Any] | None, *, now: datetime.datetime | None = None) -> Q:
    """The ``Q`` over ``Member`` for ``criteria``; empty criteria match every member."""
    if not criteria:
        return Q()
    return _compile(criteria, now or timezone.now(), 0, [0])


def criteria_validate(criteria: dict[str, Any] | None) -> None:
    criteria_compile(criteria)


def members_matching(
    criteria: dict[str, Any] | None, *, now: datetime.datetime | None = None
) -> QuerySet[Member]:
    """Members (never erased or merged ones) who match ``criteria``."""
    return Member.objects.filter(erased_at__isnull=True, merged_into__isnull=True).filter(
        criteria_compile(criteria, now=now)
    )
