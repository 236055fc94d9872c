"""Campaign models, split by area: segments, offers, campaigns and deliveries in
``core``; product affinities and next-best offers in ``personalisation``. Django finds them
all through this module."""

from campaigns.models.core import (
    Campaign,
    ContactBudget,
    Delivery,
    FanoutChunk,
    InboxMessage,
    MemberOffer,
    Offer,
    ProviderCall,
    Segment,
    SegmentMember,
    Variant,
)
from campaigns.models.data_quality import DataQualitySnapshot
from campaigns.models.personalisation import (
    AffinityBasis,
    CategoryAffinity,
    InterestCategory,
    MemberRecommendation,
    PersonalisationRun,
    ProductAffinity,
)

__all__ = [
    "AffinityBasis",
    "Campaign",
    "CategoryAffinity",
    "ContactBudget",
    "DataQualitySnapshot",
    "Delivery",
    "FanoutChunk",
    "InboxMessage",
    "InterestCategory",
    "MemberOffer",
    "MemberRecommendation",
    "Offer",
    "PersonalisationRun",
    "ProductAffinity",
    "ProviderCall",
    "Segment",
    "SegmentMember",
    "Variant",
]
