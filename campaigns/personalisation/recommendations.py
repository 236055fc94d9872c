"""Members' recommendations: scored from affinities, interests and tier, stored nightly,
erased on a withdrawal of the profiling consent."""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from campaigns.models.personalisation import (
    AffinityBasis,
    CategoryAffinity,
    InterestCategory,
    MemberRecommendation,
    PersonalisationRun,
    ProductAffinity,
)
from campaigns.personalisation.affinities import affinities_compute
from campaigns.personalisation.profiling import (
    PROFILING_PURPOSE,
    PersonalisationSettings,
    Reason,
    may_profile,
    profiled_members,
)
from consent.models import Interest, MemberInterest
from members.models import ActivityEvent, Member
from rewards.models import Category, MemberTier, Product, PurchaseLine

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
            _members_key_share(chunk)
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


def _members_key_share(member_ids: list[int]) -> None:
    """Lock the chunk's member rows FOR KEY SHARE, in primary-key order, before the table.

    The new rows' foreign keys are checked at commit, and that check takes the same lock on
    each member row. An erasure holds its member's row FOR UPDATE and then takes the table
    lock (``recommendations_erase``): checked only at commit, this chunk would hold the table
    and wait for the row while the erasure held the row and waited for the table, a deadlock
    PostgreSQL ends by failing one of them (seen in the soak benchmark). Taken first, the
    chunk waits for the erasure instead. FOR KEY SHARE does not block the tills' updates of
    a member, only deletes and FOR UPDATE."""
    table = connection.ops.quote_name(Member._meta.db_table)
    pk = connection.ops.quote_name(Member._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {pk} FROM {table} WHERE {pk} = ANY(%s) ORDER BY {pk} FOR KEY SHARE",  # noqa: S608
            [member_ids],
        )


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
        if not may_profile(event.member_id):
            MemberRecommendation.objects.filter(member_id=event.member_id).delete()
