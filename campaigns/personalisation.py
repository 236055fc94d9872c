"""Personalisation v1: affinities, each member's next best offer, and why (docs/personalisation.md).

Writes (services):

- :func:`affinities_compute`: product and category co-purchase affinities, computed in the
  database with one ``INSERT ... SELECT`` per table and basis, swapped in one transaction.
- :func:`recommendations_compute`: each consenting member's ranked recommendations, in
  chunks of members, from their purchases, interests and tier.
- :func:`personalisation_run`: both, as the nightly job does.
- :func:`recommendations_erase`: delete a member's recommendations (erasure, withdrawal).

Reads (selectors, used by campaigns' merge fields, the member pages and the back-office):

- :func:`recommended_products` / :func:`recommended_products_bulk`
- :func:`next_best_offer`
- :func:`offer_reason`: "why you got this offer", in the member's language.

Every read checks the member's ``profiling`` consent at the moment of reading, so a
withdrawal hides recommendations at once; the next run deletes them.
"""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, QuerySet
from django.utils import timezone

from campaigns.models.personalisation import (
    AffinityBasis,
    CategoryAffinity,
    InterestCategory,
    MemberRecommendation,
    PersonalisationRun,
    ProductAffinity,
)
from consent.models import ConsentState, Interest, MemberInterest
from members.models import ActivityEvent, Member
from members.rows import CompiledQuery, CompiledValues
from rewards.models import Category, MemberTier, Product, Purchase, PurchaseLine

PROFILING_PURPOSE = "profiling"
Reason = MemberRecommendation.Reason


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


@dataclass(frozen=True)
class PersonalisationSettings:
    """Thresholds and weights (settings ``PERSONALISATION_*``, docs/personalisation.md)."""

    window_days: int = 365
    min_pair_count: int = 2
    min_support: float = 0.0
    min_lift: float = 1.0
    max_basket_items: int = 50
    max_history_items: int = 100
    neighbours: int = 20
    per_member: int = 5
    chunk_size: int = 2000

    @classmethod
    def load(cls) -> PersonalisationSettings:
        return cls(
            window_days=_setting("PERSONALISATION_WINDOW_DAYS", cls.window_days),
            min_pair_count=_setting("PERSONALISATION_MIN_PAIR_COUNT", cls.min_pair_count),
            min_support=_setting("PERSONALISATION_MIN_SUPPORT", cls.min_support),
            min_lift=_setting("PERSONALISATION_MIN_LIFT", cls.min_lift),
            max_basket_items=_setting("PERSONALISATION_MAX_BASKET_ITEMS", cls.max_basket_items),
            max_history_items=_setting("PERSONALISATION_MAX_HISTORY_ITEMS", cls.max_history_items),
            neighbours=_setting("PERSONALISATION_NEIGHBOURS", cls.neighbours),
            per_member=_setting("PERSONALISATION_PER_MEMBER", cls.per_member),
            chunk_size=_setting("PERSONALISATION_CHUNK_SIZE", cls.chunk_size),
        )


# --- consent ------------------------------------------------------------------------------


def profiling_consent_q(member_ref: str = "pk") -> Exists:
    """``Exists`` for "the member has granted the profiling purpose", for filters."""
    return Exists(
        ConsentState.objects.filter(
            member_id=OuterRef(member_ref),
            purpose__code=PROFILING_PURPOSE,
            channel="",
            granted=True,
        )
    )


def profiled_members() -> QuerySet[Member]:
    """Members who may be profiled now: consent granted and not erased."""
    return Member.objects.filter(profiling_consent_q(), erased_at__isnull=True)


_MAY_PROFILE: CompiledQuery[Member] = CompiledQuery(
    lambda member_id: profiled_members().filter(pk=member_id).only("pk")[:1], "member_id"
)


def _may_profile(member_id: int) -> bool:
    """``profiled_members().filter(pk=member_id).exists()``, compiled once (members.rows)."""
    return bool(_MAY_PROFILE(member_id=member_id))


# --- affinities ---------------------------------------------------------------------------


def _tables() -> dict[str, str]:
    q = connection.ops.quote_name
    return {
        "line": q(PurchaseLine._meta.db_table),
        "purchase": q(Purchase._meta.db_table),
        "state": q(ConsentState._meta.db_table),
        "purpose": q(ConsentState._meta.get_field("purpose").related_model._meta.db_table),  # type: ignore[union-attr]
        "product_aff": q(ProductAffinity._meta.db_table),
        "category_aff": q(CategoryAffinity._meta.db_table),
    }


def _transactions_sql(*, item: str, basis: str, s: PersonalisationSettings) -> tuple[str, list]:
    """A CTE body selecting distinct ``(t, item)`` rows: one transaction per purchase
    (basket) or per consenting member (history). The SQL text is constant; values are
    parameters. Fully returned lines do not count."""
    t = _tables()
    since = timezone.now() - datetime.timedelta(days=s.window_days)
    item_col = "l.product_id" if item == "product" else "l.category_id"
    if basis == AffinityBasis.BASKET:
        sql = f"""
            raw AS (
                SELECT DISTINCT l.purchase_id AS t, {item_col} AS item
                FROM {t["line"]} l JOIN {t["purchase"]} p ON p.id = l.purchase_id
                WHERE p.purchased_at >= %s AND l.returned_quantity < l.quantity
                  AND {item_col} IS NOT NULL
            ),
            tx AS (
                SELECT raw.t, raw.item FROM raw
                WHERE raw.t IN (SELECT t FROM raw GROUP BY t HAVING COUNT(*) <= %s)
            )"""  # noqa: S608 - table names from model meta, values are parameters
        return sql, [since, s.max_basket_items]
    sql = f"""
        hist AS (
            SELECT p.member_id AS t, {item_col} AS item, MAX(p.purchased_at) AS last_at
            FROM {t["line"]} l JOIN {t["purchase"]} p ON p.id = l.purchase_id
            WHERE p.purchased_at >= %s AND l.returned_quantity < l.quantity
              AND {item_col} IS NOT NULL AND p.member_id IS NOT NULL
              AND EXISTS (
                SELECT 1 FROM {t["state"]} cs JOIN {t["purpose"]} pu ON pu.id = cs.purpose_id
                WHERE cs.member_id = p.member_id AND pu.code = %s AND cs.channel = ''
                  AND cs.granted
              )
            GROUP BY p.member_id, {item_col}
        ),
        tx AS (
            SELECT t, item FROM (
                SELECT t, item,
                       ROW_NUMBER() OVER (PARTITION BY t ORDER BY last_at DESC, item) AS rn
                FROM hist
            ) ranked WHERE rn <= %s
        )"""  # noqa: S608 - table names from model meta, values are parameters
    return sql, [since, PROFILING_PURPOSE, s.max_history_items]


def _affinity_insert(
    *, item: str, basis: str, s: PersonalisationSettings, now: datetime.datetime
) -> tuple[int, int]:
    """Insert the affinities of one item kind and basis; returns (rows, transactions)."""
    t = _tables()
    cte, params = _transactions_sql(item=item, basis=basis, s=s)
    table = t["product_aff"] if item == "product" else t["category_aff"]
    a_col, b_col = (
        ("product_a_id", "product_b_id")
        if item == "product"
        else ("category_a_id", "category_b_id")
    )
    # Lift = n_ab * N / (n_a * n_b): in floating point (1.0 *), not integer division.
    sql = f"""
        WITH {cte},
        total AS (SELECT COUNT(DISTINCT t) AS n FROM tx),
        counts AS (SELECT item, COUNT(*) AS n FROM tx GROUP BY item),
        pairs AS (
            SELECT a.item AS a, b.item AS b, COUNT(*) AS n_ab
            FROM tx a JOIN tx b ON a.t = b.t AND a.item <> b.item
            GROUP BY a.item, b.item
            HAVING COUNT(*) >= %s
        )
        INSERT INTO {table} (basis, {a_col}, {b_col}, pair_count, support, confidence, lift,
                             computed_at)
        SELECT %s, pairs.a, pairs.b, pairs.n_ab,
               1.0 * pairs.n_ab / total.n,
               1.0 * pairs.n_ab / ca.n,
               1.0 * pairs.n_ab * total.n / (1.0 * ca.n * cb.n),
               %s
        FROM pairs
        JOIN counts ca ON ca.item = pairs.a
        JOIN counts cb ON cb.item = pairs.b
        CROSS JOIN total
        WHERE 1.0 * pairs.n_ab / total.n >= %s
    """  # noqa: S608 - table names from model meta, values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, s.min_pair_count, str(basis), now, s.min_support])
        inserted = cursor.rowcount
        cursor.execute(f"WITH {cte} SELECT COUNT(DISTINCT t) FROM tx", params)  # noqa: S608
        transactions = cursor.fetchone()[0]
    return inserted, transactions


@dataclass
class AffinityCounts:
    baskets: int = 0
    histories: int = 0
    product_pairs: int = 0
    category_pairs: int = 0


def affinities_compute(*, settings_: PersonalisationSettings | None = None) -> AffinityCounts:
    """Recompute every product and category affinity from the purchase lines.

    One transaction: the old rows are deleted and the new ones inserted, so readers see
    either the old or the new set, never a mix. Two concurrent runs serialise on a table
    lock and the second one simply computes the same answer again.
    """
    s = settings_ or PersonalisationSettings.load()
    now = timezone.now()
    counts = AffinityCounts()
    with transaction.atomic():
        t = _tables()
        with connection.cursor() as cursor:
            # SHARE ROW EXCLUSIVE conflicts with itself, not with readers.
            cursor.execute(
                f"LOCK TABLE {t['product_aff']}, {t['category_aff']} IN SHARE ROW EXCLUSIVE MODE"
            )
        ProductAffinity.objects.all().delete()
        CategoryAffinity.objects.all().delete()
        for basis in (AffinityBasis.BASKET, AffinityBasis.MEMBER):
            rows, transactions = _affinity_insert(item="product", basis=basis, s=s, now=now)
            counts.product_pairs += rows
            if basis == AffinityBasis.BASKET:
                counts.baskets = transactions
            else:
                counts.histories = transactions
            rows, _ = _affinity_insert(item="category", basis=basis, s=s, now=now)
            counts.category_pairs += rows
    return counts


# --- recommendations ----------------------------------------------------------------------

# How much each kind of evidence weighs (docs/personalisation.md, "Scoring").
WEIGHTS = {
    Reason.BOUGHT_TOGETHER: 1.0,
    Reason.BOUGHT_BY_SAME: 0.8,
    Reason.CATEGORY: 0.5,
    Reason.INTEREST: 0.6,
    Reason.TIER: 0.3,
    Reason.POPULAR: 0.1,
}
TOP_PER_CATEGORY = 3


# (reason, because product, because category, because interest, because tier)
Because = tuple[str, int | None, int | None, int | None, int | None]


@dataclass
class Scored:
    product_id: int
    score: float
    because: Because


@dataclass
class _Model:
    """What the scoring needs, loaded once per run: compact ids and floats only."""

    product_neighbours: dict[int, list[tuple[int, str, float]]] = field(default_factory=dict)
    category_neighbours: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    product_category: dict[int, int | None] = field(default_factory=dict)
    top_in_category: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    interest_categories: dict[int, list[int]] = field(default_factory=dict)
    top_in_tier: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    popular: list[tuple[int, float]] = field(default_factory=list)


def _strength(confidence: float, lift: float) -> float:
    # Confidence says how often; log-lift says how much more than by chance (0 at lift 1).
    return confidence * math.log1p(max(lift - 1.0, 0.0))


def _model_load(s: PersonalisationSettings) -> _Model:
    m = _Model()
    since = timezone.now() - datetime.timedelta(days=s.window_days)
    neighbours: dict[int, list[tuple[float, int, str]]] = defaultdict(list)
    for a, b, basis, confidence, lift in ProductAffinity.objects.filter(
        lift__gt=s.min_lift
    ).values_list("product_a_id", "product_b_id", "basis", "confidence", "lift"):
        neighbours[a].append((_strength(confidence, lift), b, basis))
    for a, rows in neighbours.items():
        rows.sort(key=lambda r: (-r[0], r[1]))
        m.product_neighbours[a] = [(b, basis, st) for st, b, basis in rows[: s.neighbours]]
    cat_neighbours: dict[int, dict[int, float]] = defaultdict(dict)
    for a, b, confidence, lift in CategoryAffinity.objects.filter(lift__gt=s.min_lift).values_list(
        "category_a_id", "category_b_id", "confidence", "lift"
    ):
        st = _strength(confidence, lift)
        cat_neighbours[a][b] = max(st, cat_neighbours[a].get(b, 0.0))
    for a, by_b in cat_neighbours.items():
        m.category_neighbours[a] = sorted(by_b.items(), key=lambda r: (-r[1], r[0]))[: s.neighbours]
    m.product_category = dict(Product.objects.values_list("pk", "category_id"))
    # Popularity: distinct buyers (or receipts without a member) per product in the window.
    sold = (
        PurchaseLine.objects.filter(purchase__purchased_at__gte=since)
        .exclude(returned_quantity__gte=F("quantity"))
        .values("product_id")
        .annotate(n=Count("purchase_id", distinct=True))
        .values_list("product_id", "n")
    )
    sold_counts = dict(sold)
    total = sum(sold_counts.values()) or 1
    ranked = sorted(sold_counts.items(), key=lambda r: (-r[1], r[0]))
    m.popular = [(p, n / total) for p, n in ranked[:20]]
    per_category: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for p, n in ranked:
        c = m.product_category.get(p)
        if c is not None and len(per_category[c]) < TOP_PER_CATEGORY:
            per_category[c].append((p, n / total))
    m.top_in_category = dict(per_category)
    for interest_id, category_id in InterestCategory.objects.values_list(
        "interest_id", "category_id"
    ):
        m.interest_categories.setdefault(interest_id, []).append(category_id)
    category_by_code = dict(Category.objects.values_list("code", "pk"))
    for interest_id, code in Interest.objects.filter(active=True).values_list("pk", "code"):
        if code in category_by_code:
            cats = m.interest_categories.setdefault(interest_id, [])
            if category_by_code[code] not in cats:
                cats.append(category_by_code[code])
    tier_rows = (
        PurchaseLine.objects.filter(
            purchase__purchased_at__gte=since, purchase__member__member_tier__isnull=False
        )
        .values("purchase__member__member_tier__tier_id", "product_id")
        .annotate(n=Count("purchase__member_id", distinct=True))
        .values_list("purchase__member__member_tier__tier_id", "product_id", "n")
    )
    by_tier: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for tier_id, product_id, n in tier_rows:
        by_tier[tier_id].append((product_id, n))
    for tier_id, tier_rows_ in by_tier.items():
        tier_total = sum(n for _, n in tier_rows_) or 1
        tier_rows_.sort(key=lambda r: (-r[1], r[0]))
        m.top_in_tier[tier_id] = [(p, n / tier_total) for p, n in tier_rows_[:5]]
    return m


@dataclass(frozen=True)
class _MemberFacts:
    products: set[int]
    categories: dict[int, int]  # category -> lines bought in it
    interests: list[int]
    tier: int | None


def _member_facts(member_ids: Sequence[int], s: PersonalisationSettings) -> dict[int, _MemberFacts]:
    since = timezone.now() - datetime.timedelta(days=s.window_days)
    products: dict[int, set[int]] = defaultdict(set)
    categories: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for member_id, product_id, category_id in (
        PurchaseLine.objects.filter(
            purchase__member_id__in=member_ids, purchase__purchased_at__gte=since
        )
        .exclude(returned_quantity__gte=F("quantity"))
        .values_list("purchase__member_id", "product_id", "category_id")
    ):
        products[member_id].add(product_id)
        if category_id is not None:
            categories[member_id][category_id] += 1
    interests: dict[int, list[int]] = defaultdict(list)
    for member_id, interest_id in (
        MemberInterest.objects.filter(member_id__in=member_ids, interest__active=True)
        .order_by("member_id", "interest__order", "interest_id")
        .values_list("member_id", "interest_id")
    ):
        interests[member_id].append(interest_id)
    tiers = dict(
        MemberTier.objects.filter(member_id__in=member_ids).values_list("member_id", "tier_id")
    )
    return {
        mid: _MemberFacts(
            products=products.get(mid, set()),
            categories=dict(categories.get(mid, {})),
            interests=interests.get(mid, []),
            tier=tiers.get(mid),
        )
        for mid in member_ids
    }


def _score(facts: _MemberFacts, m: _Model, s: PersonalisationSettings) -> list[Scored]:
    """The member's top products. Contributions add up per product; the reason kept is the
    single largest contribution. Plain dicts and tuples: this runs for every member nightly."""
    score: dict[int, float] = defaultdict(float)
    best: dict[int, tuple[float, Because]] = {}
    owned = facts.products

    def add(product: int, contribution: float, because: Because) -> None:
        score[product] += contribution
        if product not in best or contribution > best[product][0]:
            best[product] = (contribution, because)

    together, same = WEIGHTS[Reason.BOUGHT_TOGETHER], WEIGHTS[Reason.BOUGHT_BY_SAME]
    for a in sorted(owned):
        for b, basis, strength in m.product_neighbours.get(a, ()):
            if b not in owned:
                if basis == AffinityBasis.BASKET:
                    add(b, together * strength, (Reason.BOUGHT_TOGETHER, a, None, None, None))
                else:
                    add(b, same * strength, (Reason.BOUGHT_BY_SAME, a, None, None, None))
    for c, _times in sorted(facts.categories.items(), key=lambda r: (-r[1], r[0])):
        for d, strength in m.category_neighbours.get(c, ()):
            for rank, (p, _share) in enumerate(m.top_in_category.get(d, ())):
                if p not in owned:
                    add(
                        p,
                        WEIGHTS[Reason.CATEGORY] * strength / (rank + 1),
                        (Reason.CATEGORY, None, c, None, None),
                    )
    for interest_id in facts.interests:
        for c in m.interest_categories.get(interest_id, ()):
            for rank, (p, _share) in enumerate(m.top_in_category.get(c, ())):
                if p not in owned:
                    add(
                        p,
                        WEIGHTS[Reason.INTEREST] / (rank + 1),
                        (Reason.INTEREST, None, c, interest_id, None),
                    )
    if facts.tier is not None:
        for p, share in m.top_in_tier.get(facts.tier, ()):
            if p not in owned:
                add(p, WEIGHTS[Reason.TIER] * share, (Reason.TIER, None, None, None, facts.tier))
    for p, share in m.popular:
        if p not in owned:
            add(p, WEIGHTS[Reason.POPULAR] * share, (Reason.POPULAR, None, None, None, None))
    ranked = sorted(score.items(), key=lambda r: (-r[1], r[0]))[: s.per_member]
    return [Scored(p, total, best[p][1]) for p, total in ranked]


@dataclass
class RecommendationCounts:
    members_scored: int = 0
    recommendations: int = 0
    removed: int = 0


def recommendations_compute(
    *,
    member_ids: Iterable[int] | None = None,
    settings_: PersonalisationSettings | None = None,
) -> RecommendationCounts:
    """Rank recommendations for each consenting member (all of them, or ``member_ids``).

    Members are scored in chunks by id; each chunk's old rows are replaced in one short
    transaction, so a member never has a half-written list. Members who may not be profiled
    (no consent, withdrawn, erased) lose any rows they had.
    """
    s = settings_ or PersonalisationSettings.load()
    model = _model_load(s)
    now = timezone.now()
    counts = RecommendationCounts()
    wanted = list(member_ids) if member_ids is not None else None
    stale = MemberRecommendation.objects.exclude(member__in=profiled_members())
    if wanted is not None:
        stale = stale.filter(member_id__in=wanted)
    counts.removed = stale.delete()[0]
    members = profiled_members().order_by("pk")
    if wanted is not None:
        members = members.filter(pk__in=wanted)
    last = 0
    while True:
        chunk = list(members.filter(pk__gt=last).values_list("pk", flat=True)[: s.chunk_size])
        if not chunk:
            break
        last = chunk[-1]
        facts = _member_facts(chunk, s)
        rows: list[tuple[Any, ...]] = []
        for member_id in chunk:
            ranked = _score(facts[member_id], model, s)
            for rank, item in enumerate(ranked, start=1):
                reason, r_product, r_category, r_interest, r_tier = item.because
                rows.append(
                    (
                        member_id,
                        rank,
                        item.product_id,
                        model.product_category.get(item.product_id),
                        round(item.score, 6),
                        str(reason),
                        r_product,
                        r_category,
                        r_interest,
                        r_tier,
                        now,
                    )
                )
            if ranked:
                counts.members_scored += 1
        with transaction.atomic():
            _recommendations_lock()
            # Re-check under the lock: a withdrawal committed since the chunk was read must
            # win (its consumer waits for this lock, then deletes what is left).
            still = set(profiled_members().filter(pk__in=chunk).values_list("pk", flat=True))
            rows = [row for row in rows if row[0] in still]
            MemberRecommendation.objects.filter(member_id__in=chunk).delete()
            _recommendations_insert(rows)
        counts.recommendations += len(rows)
    return counts


_ROW_FIELDS = (
    "member_id",
    "rank",
    "product_id",
    "category_id",
    "score",
    "reason",
    "reason_product_id",
    "reason_category_id",
    "reason_interest_id",
    "reason_tier_id",
    "computed_at",
)


def _recommendations_insert(rows: list[tuple[Any, ...]]) -> None:
    """Insert rows in the caller's transaction with COPY (several times faster than INSERT
    for a chunk of members)."""
    if not rows:
        return
    table = connection.ops.quote_name(MemberRecommendation._meta.db_table)
    # The attribute names are the column names (no db_column on the model).
    columns = ", ".join(connection.ops.quote_name(name) for name in _ROW_FIELDS)
    copy_sql = f"COPY {table} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row(row)


def personalisation_run() -> PersonalisationRun:
    """The nightly job: affinities, then every consenting member's recommendations."""
    run = PersonalisationRun.objects.create()
    affinity = affinities_compute()
    recs = recommendations_compute()
    run.finished_at = timezone.now()
    run.baskets = affinity.baskets
    run.histories = affinity.histories
    run.product_pairs = affinity.product_pairs
    run.category_pairs = affinity.category_pairs
    run.members_scored = recs.members_scored
    run.recommendations = recs.recommendations
    run.save()
    return run


def _recommendations_lock() -> None:
    """Serialise writers of recommendation rows (call inside a transaction).

    Two runs writing the same chunk would otherwise both delete, then both insert, and the
    second would fail on the unique (member, rank); a withdrawal's delete could slip between
    a chunk's consent check and its insert. SHARE ROW EXCLUSIVE conflicts with itself and
    with plain writes, never with readers."""
    table = connection.ops.quote_name(MemberRecommendation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")


def recommendations_erase(*, member: Member) -> int:
    """Delete the member's recommendations (erasure step; idempotent)."""
    with transaction.atomic():
        _recommendations_lock()
        return MemberRecommendation.objects.filter(member=member).delete()[0]


def recommendations_on_withdrawal(event: ActivityEvent) -> None:
    """Timeline consumer: when a member withdraws ``profiling``, delete their stored
    recommendations (reads already hide them; this also stops anything that reads the table).
    Re-checked here, since the member may have said yes again before this ran."""
    if (event.data or {}).get("purpose") != PROFILING_PURPOSE:
        return
    with transaction.atomic():
        _recommendations_lock()
        if not _may_profile(event.member_id):
            MemberRecommendation.objects.filter(member_id=event.member_id).delete()


# --- reads --------------------------------------------------------------------------------

REASON_TEXT: dict[str, dict[str, str]] = {
    Reason.BOUGHT_TOGETHER: {
        "sv": "Eftersom du köpte {product}: de köps ofta tillsammans.",
        "en": "Because you bought {product}: they are often bought together.",
    },
    Reason.BOUGHT_BY_SAME: {
        "sv": "Eftersom du köpte {product}: medlemmar som köpte den köper ofta även detta.",
        "en": "Because you bought {product}: members who bought it often buy this too.",
    },
    Reason.CATEGORY: {
        "sv": "Eftersom du köpte {category}.",
        "en": "Because you bought {category}.",
    },
    Reason.INTEREST: {
        "sv": "Eftersom du är intresserad av {interest}.",
        "en": "Because you are interested in {interest}.",
    },
    Reason.TIER: {
        "sv": "Populärt bland medlemmar i nivån {tier}.",
        "en": "Popular with {tier} members.",
    },
    Reason.POPULAR: {
        "sv": "Populärt bland medlemmarna just nu.",
        "en": "Popular with members right now.",
    },
}
BOUGHT_PRODUCT = {
    "sv": "Eftersom du köpte {product}.",
    "en": "Because you bought {product}.",
}
OFFER_FOR_ALL = {
    "sv": "Ett erbjudande till alla medlemmar.",
    "en": "An offer for every member.",
}


def _lang(language: str | None) -> str:
    return "sv" if (language or "sv").startswith("sv") else "en"


def _product_name(product: Product | None) -> str:
    if product is None:
        return ""
    return product.name or product.sku


def _category_name(category: Category | None) -> str:
    if category is None:
        return ""
    # Category names are written as a shopper says them ("löparskor"): keep their case.
    return category.name or category.code


@dataclass(frozen=True)
class Recommendation:
    """A recommended product and why, ready for a merge field or a page."""

    product_id: int
    sku: str
    name: str
    category: str
    rank: int
    score: float
    reason: str
    reason_text: str

    def __str__(self) -> str:
        return self.name


def reason_text(rec: MemberRecommendation, language: str | None) -> str:
    """The reason in plain words, in ``language`` ("Because you bought running shoes.")."""
    lang = _lang(language)
    template = REASON_TEXT.get(rec.reason, REASON_TEXT[Reason.POPULAR])[lang]
    tier = rec.reason_tier
    return template.format(
        product=_product_name(rec.reason_product),
        category=_category_name(rec.reason_category),
        interest=(rec.reason_interest.name_sv if lang == "sv" else rec.reason_interest.name_en)
        if rec.reason_interest
        else "",
        tier=tier.name_for(lang) if tier else "",
    )


def _rows(member_ids: Sequence[int], limit: int) -> QuerySet[MemberRecommendation]:
    return _rows_where(member_id__in=member_ids, rank__lte=limit)


def _rows_where(**where: Any) -> QuerySet[MemberRecommendation]:
    return (
        MemberRecommendation.objects.filter(**where, member__erased_at__isnull=True)
        .filter(profiling_consent_q("member_id"))
        .select_related(
            "product",
            "category",
            "reason_product",
            "reason_category",
            "reason_interest",
            "reason_tier",
        )
        .order_by("member_id", "rank")
    )


# One member's recommendations (the member pages: "My pages", offers, my data), compiled once.
_MEMBER_ROWS: CompiledQuery[MemberRecommendation] = CompiledQuery(
    lambda member_id, limit: _rows_where(member_id=member_id, rank__lte=limit),
    "member_id",
    "limit",
)


def _member_rows(member_id: int, limit: int) -> list[MemberRecommendation]:
    """``_rows([member_id], limit)``: the same rows."""
    return _MEMBER_ROWS(member_id=member_id, limit=limit)


def _as_recommendation(rec: MemberRecommendation, language: str | None) -> Recommendation:
    return Recommendation(
        product_id=rec.product_id,
        sku=rec.product.sku,
        name=_product_name(rec.product),
        category=_category_name(rec.category),
        rank=rec.rank,
        score=rec.score,
        reason=rec.reason,
        reason_text=reason_text(rec, language),
    )


def recommended_products_bulk(
    *, member_ids: Sequence[int], limit: int = 3, languages: dict[int, str] | None = None
) -> dict[int, list[Recommendation]]:
    """Recommendations for many members in one query (campaign fan-out, a chunk at a time).

    Members without profiling consent, erased members and members without rows are absent
    from the answer. ``languages`` maps member id -> "sv"/"en" for the reason texts
    (default: each member's preferred language).
    """
    out: dict[int, list[Recommendation]] = {}
    if not member_ids:
        return out
    if languages is None:
        languages = dict(
            Member.objects.filter(pk__in=member_ids).values_list("pk", "preferred_language")
        )
    rows = _member_rows(member_ids[0], limit) if len(member_ids) == 1 else _rows(member_ids, limit)
    for rec in rows:
        out.setdefault(rec.member_id, []).append(
            _as_recommendation(rec, languages.get(rec.member_id))
        )
    return out


def recommended_products(
    *, member: Member, limit: int = 3, language: str | None = None
) -> list[Recommendation]:
    """The member's top ``limit`` recommendations, best first; [] without profiling consent.

    This is the selector behind the "recommended products" merge field and the
    "Recommended for you" panel.
    """
    return recommended_products_bulk(
        member_ids=[member.pk],
        limit=limit,
        languages={member.pk: language or member.preferred_language},
    ).get(member.pk, [])


def next_best_offer(*, member: Member, language: str | None = None) -> Recommendation | None:
    """The member's single best recommendation (rank 1), or None."""
    recs = recommended_products(member=member, limit=1, language=language)
    return recs[0] if recs else None


def offer_reason(
    *,
    member: Member,
    language: str | None = None,
    product_ids: Iterable[int] = (),
    category_ids: Iterable[int] = (),
) -> str:
    """Why ``member`` got an offer about these products/categories, in plain words.

    One offer's sentence; for a list of offers use :func:`offer_reasons` (same queries for
    any number of offers).
    """
    products = list(product_ids)
    categories = list(category_ids)
    targets = [(0, p, None) for p in products] + [(0, None, c) for c in categories]
    if not targets:
        return OFFER_FOR_ALL[_lang(language or member.preferred_language)]
    # Several targets of one offer: the first that has a personal reason wins.
    reasons = offer_reasons(
        member=member,
        offers=[(i, p, c) for i, (_k, p, c) in enumerate(targets)],
        language=language,
    )
    generic = OFFER_FOR_ALL[_lang(language or member.preferred_language)]
    for i in range(len(targets)):
        if reasons[i] != generic:
            return reasons[i]
    return generic


# offer_reasons' reads, compiled once per process (members.rows): on "My offers" their
# compilation cost more than PostgreSQL spent answering them (docs/benchmarks.md "Member
# pages"). Lists of ids go as one array parameter each.
_PRODUCTS: CompiledQuery[Product] = CompiledQuery(
    lambda ids: Product.objects.filter(pk__in=ids), "ids", lists=["ids"]
)
_CATEGORIES: CompiledQuery[Category] = CompiledQuery(
    lambda ids: Category.objects.filter(pk__in=ids), "ids", lists=["ids"]
)
_BOUGHT_PRODUCTS = CompiledValues(
    lambda member_id, ids: (
        PurchaseLine.objects.filter(purchase__member=member_id, product_id__in=ids)
        .exclude(returned_quantity__gte=F("quantity"))
        .values("product_id")
    ),
    "member_id",
    "ids",
    lists=["ids"],
)
_BOUGHT_CATEGORIES = CompiledValues(
    lambda member_id, ids: (
        PurchaseLine.objects.filter(purchase__member=member_id, category_id__in=ids)
        .exclude(returned_quantity__gte=F("quantity"))
        .values("category_id")
        .annotate(n=Count("id"))
    ),
    "member_id",
    "ids",
    lists=["ids"],
)
_CHOSEN_INTERESTS: CompiledQuery[Interest] = CompiledQuery(
    lambda member_id: Interest.objects.filter(
        active=True,
        pk__in=MemberInterest.objects.filter(member=member_id).values("interest_id"),
    ).order_by("order", "code"),
    "member_id",
)
_INTEREST_CATEGORIES = CompiledValues(
    lambda category_ids, interest_ids: InterestCategory.objects.filter(
        category_id__in=category_ids, interest__in=interest_ids
    ).values("interest_id", "category_id"),
    "category_ids",
    "interest_ids",
    lists=["category_ids", "interest_ids"],
)


def _by_pk(rows: list[Any]) -> dict[Any, Any]:
    return {row.pk: row for row in rows}


def offer_reasons(
    *,
    member: Member,
    offers: Iterable[tuple[Hashable, int | None, int | None]],
    language: str | None = None,
) -> dict[Hashable, str]:
    """Why ``member`` got each offer, in plain words: ``offers`` are ``(key, product id,
    category id)``; the answer maps each key to one sentence in the member's language.

    In order: the member bought the product ("Because you bought Jeans 501."); the product
    is one of their recommendations (its reason); they bought in the category ("Because you
    bought running shoes."); an interest they chose maps to the category; one of their
    recommendations is in the category (its reason); else "An offer for every member."
    Purchases and interests are used only with profiling consent. A fixed number of
    queries, whatever the number of offers.
    """
    lang = _lang(language or member.preferred_language)
    offers = list(offers)
    out: dict[Hashable, str] = {key: OFFER_FOR_ALL[lang] for key, _p, _c in offers}
    targeted = [(key, p, c) for key, p, c in offers if p or c]
    if not targeted or not _may_profile(member.pk):
        return out
    product_ids = sorted({p for _k, p, _c in targeted if p})
    products = _by_pk(_PRODUCTS(ids=product_ids)) if product_ids else {}
    bought_products = (
        {row["product_id"] for row in _BOUGHT_PRODUCTS(member_id=member.pk, ids=product_ids)}
        if product_ids
        else set()
    )
    recommended = {rec.product_id: rec for rec in _member_rows(member.pk, 10_000)}
    # The best-ranked recommendation in each category, for offers on a whole category.
    recommended_in_category: dict[int, MemberRecommendation] = {}
    for rec in sorted(recommended.values(), key=lambda r: r.rank):
        if rec.category_id is not None:
            recommended_in_category.setdefault(rec.category_id, rec)
    category_of = {
        key: c or (products[p].category_id if p in products else None) for key, p, c in targeted
    }
    category_ids = sorted({c for c in category_of.values() if c})
    bought_categories = (
        {
            row["category_id"]: row["n"]
            for row in _BOUGHT_CATEGORIES(member_id=member.pk, ids=category_ids)
        }
        if category_ids
        else {}
    )
    categories = _by_pk(_CATEGORIES(ids=category_ids)) if category_ids else {}
    interest_by_category = _interests_for_categories(member, categories)
    for key, p, _c in targeted:
        category_id = category_of[key]
        if p in bought_products:
            out[key] = BOUGHT_PRODUCT[lang].format(product=_product_name(products[p]))
        elif p in recommended:
            out[key] = reason_text(recommended[p], lang)
        elif category_id in bought_categories:
            out[key] = REASON_TEXT[Reason.CATEGORY][lang].format(
                category=_category_name(categories[category_id])
            )
        elif category_id in interest_by_category:
            interest = interest_by_category[category_id]
            out[key] = REASON_TEXT[Reason.INTEREST][lang].format(
                interest=interest.name_sv if lang == "sv" else interest.name_en
            )
        elif category_id in recommended_in_category:
            out[key] = reason_text(recommended_in_category[category_id], lang)
    return out


def _interests_for_categories(
    member: Member, categories: dict[int, Category]
) -> dict[int, Interest]:
    """Category id -> the member's first chosen interest that is about it."""
    if not categories:
        return {}
    chosen = _CHOSEN_INTERESTS(member_id=member.pk)
    if not chosen:
        return {}
    mapped: dict[int, set[int]] = defaultdict(set)
    for row in _INTEREST_CATEGORIES(
        category_ids=sorted(categories), interest_ids=[i.pk for i in chosen]
    ):
        mapped[row["category_id"]].add(row["interest_id"])
    out: dict[int, Interest] = {}
    for category_id, category in categories.items():
        for interest in chosen:
            if interest.pk in mapped[category_id] or interest.code == category.code:
                out[category_id] = interest
                break
    return out


def affinities_top(
    *, basis: str = AffinityBasis.BASKET, limit: int = 20
) -> QuerySet[ProductAffinity]:
    """The strongest product affinities, for the back-office ("people who buy X buy Y")."""
    return (
        ProductAffinity.objects.filter(basis=basis, lift__gt=1)
        .select_related("product_a", "product_b")
        .order_by("-lift", "-pair_count", "product_a_id", "product_b_id")[:limit]
    )


def personalisation_last_run() -> PersonalisationRun | None:
    return PersonalisationRun.objects.filter(finished_at__isnull=False).first()
