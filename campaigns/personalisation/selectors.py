"""Reads of stored recommendations and the reasons shown for them and for offers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, QuerySet

from campaigns.models import Campaign
from campaigns.models.personalisation import (
    InterestCategory,
    MemberRecommendation,
    PersonalisationRun,
)
from campaigns.personalisation.profiling import Reason, may_profile, profiling_consent_q
from campaigns.personalisation.segment_reasons import (
    INTEREST_SAID,
    interest_name,
    segment_reason_texts,
)
from consent.models import Interest, MemberInterest
from members.models import Member
from members.rows import CompiledQuery, CompiledValues
from rewards.models import Category, Product, PurchaseLine

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
    # The member told us (their interests, Mina val or the sign-up step): say so (issue 16).
    Reason.INTEREST: INTEREST_SAID,
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

# Why an offer without a personal reason reached the member: what its campaign was sent to.
# A campaign with a segment went to some members only, never "to every member" (issue 16).
OFFER_FOR_SEGMENT = {
    "sv": "Ett erbjudande till en grupp medlemmar som du hör till.",
    "en": "An offer for a group of members you belong to.",
}
OFFER_FOR_TRIGGER: dict[str, dict[str, str]] = {
    "joined": {
        "sv": "Ett välkomsterbjudande till dig som ny medlem.",
        "en": "A welcome offer for you as a new member.",
    },
    "birthday": {"sv": "Ett erbjudande på din födelsedag.", "en": "An offer for your birthday."},
    "lapsed": {
        "sv": "Ett erbjudande eftersom det var ett tag sedan du handlade.",
        "en": "An offer because it has been a while since you shopped.",
    },
    "tier_changed": {
        "sv": "Ett erbjudande eftersom du bytte nivå.",
        "en": "An offer because your tier changed.",
    },
    "points_expiring": {
        "sv": "Ett erbjudande eftersom du har poäng som snart går ut.",
        "en": "An offer because some of your points expire soon.",
    },
    "checked_in": {
        "sv": "Ett erbjudande eftersom du checkade in i en butik.",
        "en": "An offer because you checked in at a store.",
    },
}


def offer_audience_text(campaign: Any, language: str | None) -> str:
    """Who the campaign that brought an offer was for, in plain words: the event that
    triggered it, its segment ("a group of members you belong to"), or every member."""
    lang = _lang(language)
    if campaign is None:
        return OFFER_FOR_ALL[lang]
    trigger = OFFER_FOR_TRIGGER.get(getattr(campaign, "trigger", "") or "")
    if trigger is not None:
        return trigger[lang]
    if getattr(campaign, "segment_id", None) is not None:
        return OFFER_FOR_SEGMENT[lang]
    return OFFER_FOR_ALL[lang]


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
        interest=interest_name(rec.reason_interest, lang) if rec.reason_interest else "",
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
    campaigns: Mapping[Hashable, Any] | None = None,
) -> dict[Hashable, str]:
    """Why ``member`` got each offer, in plain words: ``offers`` are ``(key, product id,
    category id)``; the answer maps each key to one sentence in the member's language.

    In order: the member bought the product ("Because you bought Jeans 501."); the product
    is one of their recommendations (its reason); they bought in the category ("Because you
    bought running shoes."); an interest they chose maps to the category; one of their
    recommendations is in the category (its reason); else who the offer's campaign (from
    ``campaigns``, key -> campaign) was for: its trigger, its segment, or every member
    (:func:`offer_audience_text`).
    Purchases and interests are used only with profiling consent. A fixed number of
    queries, whatever the number of offers.
    """
    lang = _lang(language or member.preferred_language)
    offers = list(offers)
    campaigns = campaigns or {}
    out: dict[Hashable, str] = {
        key: offer_audience_text(campaigns.get(key), lang) for key, _p, _c in offers
    }
    # A segment that says why (an interest the member chose, their tier, a category they
    # bought in) replaces "a group you belong to"; the member's own word (their interest)
    # is what caused the offer, and wins over a reason inferred from purchases.
    by_segment = _segment_reasons(member, campaigns, [key for key, _p, _c in offers], lang)
    out.update({key: text for key, (text, _own) in by_segment.items()})
    targeted = [
        (key, p, c)
        for key, p, c in offers
        if (p or c) and not (key in by_segment and by_segment[key][1])
    ]
    if not targeted or not may_profile(member.pk):
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
                interest=interest_name(interest, lang)
            )
        elif category_id in recommended_in_category:
            out[key] = reason_text(recommended_in_category[category_id], lang)
    return out


def _segment_reasons(
    member: Member, campaigns: Mapping[Hashable, Any], keys: list[Hashable], lang: str
) -> dict[Hashable, tuple[str, bool]]:
    """Offer key -> the sentence its campaign's segment gives and whether it is the member's
    own word (segment_reasons), for offers whose campaign went to a segment rather than
    through a trigger."""
    segment_of = {
        key: campaign.segment_id
        for key in keys
        if (campaign := campaigns.get(key)) is not None
        and getattr(campaign, "segment_id", None) is not None
        and (getattr(campaign, "trigger", "") or "") not in OFFER_FOR_TRIGGER
    }
    if not segment_of:
        return {}
    # Segments already loaded with their campaign (the member pages' offers) are not read again.
    criteria = {
        campaign.segment_id: campaign.segment.criteria
        for key in segment_of
        if _segment_cached(campaign := campaigns[key])
    }
    texts = segment_reason_texts(
        member=member, segment_ids=segment_of.values(), lang=lang, criteria=criteria
    )
    return {key: texts[sid] for key, sid in segment_of.items() if sid in texts}


def _segment_cached(campaign: Any) -> bool:
    """The campaign was read with its segment (``select_related``), and has one."""
    return (
        isinstance(campaign, Campaign)
        and Campaign._meta.get_field("segment").is_cached(campaign)
        and campaign.segment is not None
    )


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


def personalisation_last_run() -> PersonalisationRun | None:
    return PersonalisationRun.objects.filter(finished_at__isnull=False).first()
