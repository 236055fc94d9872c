"""How many points a basket earns, and why. Pure functions over a snapshot of the rules.

The rules are read once per process every ``REWARDS_RULES_CACHE_SECONDS`` (staff edits apply
within that time), so recording a purchase costs no query for them. The same calculation
backs purchases, the admin "simulate" page and the tests.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import connection

from rewards.rules.models import EarningRule

_ROUNDING: dict[str, str] = {
    EarningRule.Rounding.DOWN: ROUND_FLOOR,
    EarningRule.Rounding.NEAREST: ROUND_HALF_UP,
    EarningRule.Rounding.UP: ROUND_CEILING,
}


@dataclass(frozen=True)
class RuleSnapshot:
    id: int
    kind: str
    name_sv: str
    name_en: str
    rate: Decimal
    multiplier: Decimal
    rounding: str
    min_purchase_ore: int
    category_id: int | None
    product_id: int | None
    store_id: int | None
    tier_id: int | None
    valid_from: datetime.date | None
    valid_until: datetime.date | None

    def applies_to_purchase(
        self, *, store_id: int, tier_id: int | None, day: datetime.date
    ) -> bool:
        if self.valid_from and day < self.valid_from:
            return False
        if self.valid_until and day > self.valid_until:
            return False
        if self.store_id is not None and self.store_id != store_id:
            return False
        return self.tier_id is None or self.tier_id == tier_id

    def matches_line(self, line: LineForEarning) -> bool:
        if self.product_id is not None and self.product_id != line.product_id:
            return False
        return self.category_id is None or self.category_id == line.category_id


@dataclass(frozen=True)
class LineForEarning:
    product_id: int | None
    category_id: int | None
    quantity: int
    unit_price_ore: int
    discount_ore: int = 0

    @property
    def net_ore(self) -> int:
        return max(0, self.quantity * self.unit_price_ore - self.discount_ore)


@dataclass
class Earning:
    """Points per line and per rule; the two always add up to the same ``total``."""

    total: int = 0
    line_points: list[int] = field(default_factory=list)
    # [{"rule": id, "sv": "...", "en": "...", "points": n}] in the order they apply.
    explanation: list[dict[str, Any]] = field(default_factory=list)


def _round(value: Decimal, rounding: str) -> int:
    return int(value.quantize(Decimal(1), rounding=_ROUNDING.get(rounding, ROUND_FLOOR)))


def earning_calculate(
    *,
    lines: list[LineForEarning],
    store_id: int,
    tier_id: int | None,
    day: datetime.date,
    total_ore: int,
    rules: list[RuleSnapshot],
    member_id: int | None = None,
    bonus: BonusPrefetch | None = None,
) -> Earning:
    """Points for a basket: the base rate on every eligible line, plus each matching
    multiplier's extra (``base x (multiplier - 1)``), rounded per line and rule.

    With ``member_id``, the member's personal multipliers from the registered bonus
    providers (an activated campaign offer, for example) apply as well: from ``bonus`` when
    it was read for ``day``, else from the providers now."""
    if member_id is not None:
        if bonus is not None and bonus.day == day:
            rules = [*rules, *bonus.rules(member_id)]
        else:
            rules = [*rules, *bonus_rules_for(member_id=member_id, day=day)]
    applicable = [
        r for r in rules if r.applies_to_purchase(store_id=store_id, tier_id=tier_id, day=day)
    ]
    bases = [r for r in applicable if r.kind == EarningRule.Kind.BASE]
    result = Earning(line_points=[0] * len(lines))
    if not bases or total_ore < bases[0].min_purchase_ore:
        return result
    base = bases[0]
    exclusions = [r for r in applicable if r.kind == EarningRule.Kind.EXCLUSION]
    multipliers = [r for r in applicable if r.kind == EarningRule.Kind.MULTIPLIER]
    per_rule: dict[int, int] = {base.id: 0} | {r.id: 0 for r in multipliers}
    for index, line in enumerate(lines):
        if any(rule.matches_line(line) for rule in exclusions):
            continue
        base_exact = Decimal(line.net_ore) / 100 * base.rate
        points = _round(base_exact, base.rounding)
        per_rule[base.id] += points
        for rule in multipliers:
            if rule.matches_line(line):
                extra = _round(base_exact * (rule.multiplier - 1), base.rounding)
                per_rule[rule.id] += extra
                points += extra
        result.line_points[index] = points
    result.total = sum(result.line_points)
    for rule in [base, *multipliers]:
        if per_rule[rule.id]:
            result.explanation.append(
                {
                    "rule": rule.id,
                    "sv": rule.name_sv,
                    "en": rule.name_en,
                    "points": per_rule[rule.id],
                }
            )
    return result


# --- the per-process cache of active rules -------------------------------------------------

_lock = threading.Lock()
_cache: dict[str, Any] = {"until": 0.0, "rules": []}


def _cache_rules() -> list[RuleSnapshot]:
    rules: list[RuleSnapshot] = _cache["rules"]
    return rules


def rules_active() -> list[RuleSnapshot]:
    """Active rules, highest priority first, cached per process for a few seconds."""
    now = time.monotonic()
    if _cache["until"] > now:
        return _cache_rules()
    with _lock:
        if _cache["until"] > now:
            return _cache_rules()
        rules = [
            RuleSnapshot(
                id=r.pk,
                kind=r.kind,
                name_sv=r.name_sv,
                name_en=r.name_en,
                rate=r.rate,
                multiplier=r.multiplier,
                rounding=r.rounding,
                min_purchase_ore=r.min_purchase_ore,
                category_id=r.category_id,
                product_id=r.product_id,
                store_id=r.store_id,
                tier_id=r.tier_id,
                valid_from=r.valid_from,
                valid_until=r.valid_until,
            )
            for r in EarningRule.objects.filter(active=True).order_by("-priority", "id")
        ]
        _cache["rules"] = rules
        _cache["until"] = now + settings.REWARDS_RULES_CACHE_SECONDS
    return rules


def rules_cache_clear() -> None:
    """Forget the cached rules and tier ladder (tests; admin after an edit in this process)."""
    with _lock:
        _cache["until"] = 0.0
    for clear in _cache_clear_hooks:
        clear()


# Caches of higher modules that derive from the rules (the tier ladder): cleared with them.
_cache_clear_hooks: list[Callable[[], None]] = []


def rules_cache_clear_register(*, clear: Callable[[], None]) -> None:
    """Clear another cache whenever the rules' cache is cleared. Call from AppConfig.ready."""
    if clear not in _cache_clear_hooks:
        _cache_clear_hooks.append(clear)


# --- personal bonus multipliers (extension point) -------------------------------------------
# Higher apps contribute a member's personal multipliers (e.g. an activated "3x points on
# running shoes" campaign offer) without rewards importing them: they register a provider
# from their AppConfig.ready. A provider returns multiplier RuleSnapshots valid on ``day``;
# their ids must not collide with EarningRule ids (use negative numbers).

BonusProvider = Callable[[int, datetime.date], list[RuleSnapshot]]
_bonus_providers: dict[str, BonusProvider] = {}

# A provider built with :func:`bonus_sql` is one SELECT; every such provider's rows for a
# purchase come back in one UNION ALL statement (one round trip for all of them, no queryset
# to build and compile, no model instances), so a new provider costs a purchase no extra
# query, and the till's purchase folds that statement into its member lookup
# (:func:`bonus_prefetch_sql`). Each SELECT names the member as the one-row relation
# ``bonus_member`` (``... WHERE mo.member_id = (SELECT id FROM bonus_member)``); its ``%s``
# take ``params(day)``. It returns, in this order: a negative rule id, name_sv, name_en,
# the multiplier, category id, product id (NULL for "any").
BonusParams = Callable[[datetime.date], list[Any]]
_BONUS_COLUMNS = "id, name_sv, name_en, multiplier, category_id, product_id"


def _bonus_snapshots(rows: Iterable[Sequence[Any]]) -> list[RuleSnapshot]:
    return [
        RuleSnapshot(
            id=rule_id,
            kind=EarningRule.Kind.MULTIPLIER,
            name_sv=name_sv,
            name_en=name_en,
            rate=Decimal("1"),
            multiplier=Decimal(multiplier),
            rounding=EarningRule.Rounding.DOWN,
            min_purchase_ore=0,
            category_id=category_id,
            product_id=product_id,
            store_id=None,
            tier_id=None,
            valid_from=None,
            valid_until=None,
        )
        for rule_id, name_sv, name_en, multiplier, category_id, product_id in rows
    ]


def _bonus_union(parts: list[tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    sql = " UNION ALL ".join(f"({part})" for part, _params in parts)
    return sql, [param for _part, part_params in parts for param in part_params]


def _bonus_select(member_id: int, parts: list[tuple[str, list[Any]]]) -> list[RuleSnapshot]:
    union, params = _bonus_union(parts)
    sql = f"WITH bonus_member(id) AS (VALUES (%s::bigint)) {union} ORDER BY 1"
    with connection.cursor() as cursor:
        cursor.execute(sql, [member_id, *params])
        return _bonus_snapshots(cursor.fetchall())


def bonus_sql(sql: str) -> Callable[[BonusParams], BonusProvider]:
    """Decorate ``params(day) -> [...]`` (the values for ``sql``'s ``%s``) to make a
    provider. Called alone it runs its own SELECT; :func:`bonus_rules_for` folds it into
    one statement with the other such providers. Rows come newest-first by id."""

    def decorate(params: BonusParams) -> BonusProvider:
        def provider(member_id: int, day: datetime.date) -> list[RuleSnapshot]:
            return _bonus_select(member_id, [(sql, params(day))])

        provider.bonus_sql = (sql, params)  # type: ignore[attr-defined]
        provider.__name__ = params.__name__
        provider.__doc__ = params.__doc__
        return provider

    return decorate


def bonus_provider_register(*, name: str, provider: BonusProvider) -> None:
    """Register ``provider(member_id, day)``. Call from ``AppConfig.ready``."""
    _bonus_providers[name] = provider


def _bonus_parts(day: datetime.date) -> list[tuple[str, list[Any]]]:
    """The SQL providers' SELECTs and their values for ``day``."""
    parts = []
    for name in sorted(_bonus_providers):
        spec = getattr(_bonus_providers[name], "bonus_sql", None)
        if spec is not None:
            sql, params = spec
            parts.append((sql, params(day)))
    return parts


def _bonus_plain_rules(member_id: int, day: datetime.date) -> list[RuleSnapshot]:
    """The multipliers of the providers that are not SQL (each asked on its own)."""
    return [
        rule
        for name in sorted(_bonus_providers)
        if not hasattr(_bonus_providers[name], "bonus_sql")
        for rule in _bonus_providers[name](member_id, day)
        if rule.kind == EarningRule.Kind.MULTIPLIER
    ]


def bonus_rules_for(*, member_id: int, day: datetime.date) -> list[RuleSnapshot]:
    """Every registered provider's multipliers for the member on ``day``."""
    rules = _bonus_plain_rules(member_id, day)
    parts = _bonus_parts(day)
    if parts:
        rules += _bonus_select(member_id, parts)
    return rules


@dataclass(frozen=True)
class BonusPrefetch:
    """The SQL providers' rows for a member on ``day``, read by the member lookup
    (:func:`bonus_prefetch_sql`); :func:`earning_calculate` uses them for that day."""

    day: datetime.date
    rows: list[Sequence[Any]]

    def rules(self, member_id: int) -> list[RuleSnapshot]:
        return _bonus_plain_rules(member_id, self.day) + _bonus_snapshots(self.rows)


def bonus_prefetch_sql(day: datetime.date) -> tuple[str, list[Any]]:
    """A scalar subquery (SQL, params) for a SELECT list: the SQL providers' rows for
    ``day`` as a JSON array of arrays, for a query that defines the one-row relation
    ``bonus_member`` (the member). Read its value with :func:`bonus_prefetch`."""
    parts = _bonus_parts(day)
    if not parts:
        return "NULL", []
    union, params = _bonus_union(parts)
    sql = (
        f"(SELECT json_agg(json_build_array({_BONUS_COLUMNS}) ORDER BY id)::text "  # noqa: S608
        f"FROM ({union}) AS b({_BONUS_COLUMNS}))"
    )
    return sql, params


def bonus_prefetch(day: datetime.date, value: str | None) -> BonusPrefetch:
    """The :func:`bonus_prefetch_sql` column's value: JSON sent as text, so multipliers are
    read as exact decimals (the driver would decode ``json`` numbers as floats)."""
    rows = json.loads(value, parse_float=Decimal) if value else []
    return BonusPrefetch(day=day, rows=[list(row) for row in rows])
