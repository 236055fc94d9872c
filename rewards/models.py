"""rewards' models, one module per capability; Django finds them all through this module.

- ``rewards.purchases.models``: products, categories, purchases, their lines and returns;
- ``rewards.ledger.models``: ledger entries, lots, balances, reservations, idempotency;
- ``rewards.rules.models``: earning rules, event rules and check-ins;
- ``rewards.loyalty.models``: tiers, benefits, rewards and vouchers, challenges, referrals,
  reviews.

Money is in öre (``BigIntegerField``), points are integers; rates and multipliers are
decimals. Every state change goes through the capability's services.
"""

from rewards.ledger.models import (
    IdempotencyRecord,
    LedgerEntry,
    PointBalance,
    PointLot,
    Reservation,
)
from rewards.loyalty.models import (
    Badge,
    Benefit,
    BenefitChoice,
    Challenge,
    ChallengeProgress,
    MemberBadge,
    MemberTier,
    PartnerCode,
    Referral,
    ReferralCode,
    ReferralIdentity,
    Review,
    Reward,
    Tier,
    TierChange,
    Voucher,
    WaitlistEntry,
)
from rewards.purchases.models import (
    Category,
    Product,
    Purchase,
    PurchaseLine,
    Return,
    VatRate,
)
from rewards.rules.models import (
    CheckIn,
    EarningRule,
    EventRule,
)

__all__ = [
    "Badge",
    "Benefit",
    "BenefitChoice",
    "Category",
    "Challenge",
    "ChallengeProgress",
    "CheckIn",
    "EarningRule",
    "EventRule",
    "IdempotencyRecord",
    "LedgerEntry",
    "MemberBadge",
    "MemberTier",
    "PartnerCode",
    "PointBalance",
    "PointLot",
    "Product",
    "Purchase",
    "PurchaseLine",
    "Referral",
    "ReferralCode",
    "ReferralIdentity",
    "Reservation",
    "Return",
    "Review",
    "Reward",
    "Tier",
    "TierChange",
    "VatRate",
    "Voucher",
    "WaitlistEntry",
]
