"""Personalisation state for tests: recommendations as the nightly job stores them."""

from __future__ import annotations

from campaigns.models import MemberRecommendation
from consent.models import Interest
from members.models import Member
from rewards.models import Category, MemberTier, Product


def recommendation_with_every_field(member: Member) -> MemberRecommendation:
    """One stored recommendation with every reason field set (export and erasure tests).

    A real run sets only the fields of the reason it gives; this row fills them all so that
    the export test sees a value in each registered field."""
    category, _created = Category.objects.get_or_create(
        code="reco-cat", defaults={"name": "Jackor"}
    )
    product, _created = Product.objects.get_or_create(
        sku="RECO-1", defaults={"name": "Regnjacka", "category": category}
    )
    bought, _created = Product.objects.get_or_create(sku="RECO-0", defaults={"name": "Stövlar"})
    tier = MemberTier.objects.filter(member=member).select_related("tier").first()
    return MemberRecommendation.objects.create(
        member=member,
        rank=1,
        product=product,
        category=category,
        score=0.42,
        reason=MemberRecommendation.Reason.BOUGHT_TOGETHER,
        reason_product=bought,
        reason_category=category,
        reason_interest=Interest.objects.order_by("pk").first(),
        reason_tier=tier.tier if tier else None,
    )
