"""The rewards app's entries in the processing register (docs/architecture.md).

Purchases and the ledger are bookkeeping: kept for seven years, with the member's row
anonymised on erasure so that every total is unchanged.
"""

from django.utils.translation import gettext_lazy as _

PERSONAL_DATA = {
    # "Model.field": (purpose code, retention code)
    "MemberTier.member": ("membership", "membership"),
    "MemberTier.tier": ("membership", "membership"),
    "MemberTier.since": ("membership", "membership"),
    "Purchase.member": ("membership", "bookkeeping"),
    "Purchase.store": ("membership", "bookkeeping"),
    "Purchase.total_ore": ("membership", "bookkeeping"),
    "Purchase.purchased_at": ("membership", "bookkeeping"),
    "Purchase.claimed_at": ("membership", "bookkeeping"),
    "PurchaseLine.purchase": ("membership", "bookkeeping"),
    "PurchaseLine.sku": ("membership", "bookkeeping"),
    "PurchaseLine.product": ("membership", "bookkeeping"),
    "PurchaseLine.category": ("membership", "bookkeeping"),
    "PurchaseLine.quantity": ("membership", "bookkeeping"),
    "PurchaseLine.unit_price_ore": ("membership", "bookkeeping"),
    "PurchaseLine.discount_ore": ("membership", "bookkeeping"),
    "Return.purchase": ("membership", "bookkeeping"),
    "Return.lines": ("membership", "bookkeeping"),
    "PointBalance.member": ("membership", "bookkeeping"),
    "PointBalance.pending": ("membership", "bookkeeping"),
    "PointBalance.posted": ("membership", "bookkeeping"),
    "PointBalance.reserved": ("membership", "bookkeeping"),
    "Reservation.member": ("membership", "bookkeeping"),
    "Reservation.amount": ("membership", "bookkeeping"),
    "Reservation.captured": ("membership", "bookkeeping"),
    # A web shop's free-text reference (an order note): erasure replaces identifiers in it.
    "Reservation.reference": ("membership", "bookkeeping"),
    # Ids a till or web shop chose: may carry a phone or member number; erasure replaces
    # the identifier and keeps the row (consent.scrub, registry.free_text_register).
    "Purchase.receipt_id": ("membership", "bookkeeping"),
    "Return.return_id": ("membership", "bookkeeping"),
    # A SHA-256 of the till's request, the member's number with the receipt the row holds:
    # ten digits are found again by trying them all, so erasure replaces it (rewards.privacy).
    "Purchase.request_hash": ("membership", "bookkeeping"),
    "LedgerEntry.member": ("membership", "bookkeeping"),
    "LedgerEntry.points": ("membership", "bookkeeping"),
    "LedgerEntry.reason": ("membership", "bookkeeping"),
    # "return:<store>:<return id>" carries the till's return id (see Return.return_id).
    "LedgerEntry.idempotency_key": ("membership", "bookkeeping"),
    "LedgerEntry.actor": ("membership", "bookkeeping"),
    "LedgerEntry.created_at": ("membership", "bookkeeping"),
    "PointLot.member": ("membership", "bookkeeping"),
    "PointLot.amount": ("membership", "bookkeeping"),
    "PointLot.remaining": ("membership", "bookkeeping"),
    "PointLot.expires_at": ("membership", "bookkeeping"),
    "CheckIn.member": ("membership", "membership"),
    "CheckIn.store": ("membership", "membership"),
    "CheckIn.created_at": ("membership", "membership"),
}

NOT_PERSONAL = {
    "Category.id",
    "Category.code",
    "Category.name",
    "Category.vat_rate_bp",
    "Product.id",
    "Product.sku",
    "Product.name",
    "Product.category",
    "Product.vat_rate_bp",
    "Tier.id",
    "Tier.code",
    "Tier.name_sv",
    "Tier.name_en",
    "Tier.rank",
    "MemberTier.id",
    "Purchase.id",
    "Purchase.recorded_at",
    "Purchase.points_earned",
    "Purchase.points_reversed",
    "Purchase.points_available_at",
    "Purchase.explanation",
    "PurchaseLine.id",
    "PurchaseLine.line_no",
    "PurchaseLine.points",
    "PurchaseLine.returned_quantity",
    "PurchaseLine.points_reversed",
    # the product's VAT rate as sold (the receipt's VAT): says nothing of the member
    "PurchaseLine.vat_rate_bp",
    "Return.id",
    "Return.store",
    "Return.request_hash",
    "Return.points_reversed",
    "Return.points_unrecovered",
    "Return.created_at",
    "EarningRule.id",
    "EarningRule.kind",
    "EarningRule.name_sv",
    "EarningRule.name_en",
    "EarningRule.active",
    "EarningRule.priority",
    "EarningRule.rate",
    "EarningRule.multiplier",
    "EarningRule.rounding",
    "EarningRule.min_purchase_ore",
    "EarningRule.category",
    "EarningRule.product",
    "EarningRule.store",
    "EarningRule.tier",
    "EarningRule.valid_from",
    "EarningRule.valid_until",
    "EarningRule.created_at",
    "EventRule.id",
    "EventRule.event",
    "EventRule.name_sv",
    "EventRule.name_en",
    "EventRule.points",
    "EventRule.cap",
    "EventRule.period",
    "EventRule.beneficiary",
    "EventRule.active",
    "PointBalance.updated_at",
    "Reservation.id",
    "Reservation.store",
    "Reservation.status",
    "Reservation.created_at",
    "Reservation.expires_at",
    "Reservation.resolved_at",
    "LedgerEntry.id",
    "LedgerEntry.kind",
    "LedgerEntry.delta_pending",
    "LedgerEntry.delta_posted",
    "LedgerEntry.delta_reserved",
    "LedgerEntry.cause",
    "LedgerEntry.purchase",
    "LedgerEntry.reservation",
    "LedgerEntry.event_rule",
    "LedgerEntry.explanation",
    "LedgerEntry.store",
    "PointLot.id",
    "PointLot.entry",
    "PointLot.purchase",
    "PointLot.available_at",
    "PointLot.matured",
    "IdempotencyRecord.id",
    "IdempotencyRecord.key",
    "IdempotencyRecord.request_hash",
    "IdempotencyRecord.response",
    "IdempotencyRecord.created_at",
    "CheckIn.id",
    "CheckIn.idempotency_key",
}

# --- tiers, catalogue, vouchers, challenges, referrals, reviews (docs/rewards.md) ----------
_MEMBERSHIP = ("membership", "membership")
_BOOKS = ("membership", "bookkeeping")
PERSONAL_DATA.update(
    {
        "MemberTier.below_since": _MEMBERSHIP,
        **{
            f"TierChange.{f}": _MEMBERSHIP
            for f in (
                "member",
                "from_tier",
                "to_tier",
                "reason",
                "qualifying_value",
                "purchase_id",
                "created_at",
            )
        },
        **{f"BenefitChoice.{f}": _MEMBERSHIP for f in ("member", "benefit", "period_start")},
        "BenefitChoice.created_at": _MEMBERSHIP,
        # Vouchers are bought with points: kept with the ledger.
        **{
            f"Voucher.{f}": _BOOKS
            for f in (
                "reward",
                "member",
                "code",
                "status",
                "points_spent",
                "claim_key",
                "partner_code",
                "issued_at",
                "valid_until",
                "used_at",
                "used_store",
                "used_reference",
                "redeem_key",
                "cancelled_at",
            )
        },
        **{
            f"WaitlistEntry.{f}": _MEMBERSHIP for f in ("reward", "member", "created_at", "voucher")
        },
        **{
            f"ChallengeProgress.{f}": _MEMBERSHIP
            for f in ("member", "challenge", "progress", "updated_at", "completed_at")
        },
        **{f"MemberBadge.{f}": _MEMBERSHIP for f in ("member", "badge", "awarded_at")},
        **{f"ReferralCode.{f}": _MEMBERSHIP for f in ("member", "code", "created_at")},
        # Referrals earned points on both sides: kept with the ledger.
        **{
            f"Referral.{f}": _BOOKS
            for f in ("referrer", "referred", "status", "created_at", "completed_at", "purchase_id")
        },
        # Keyed hashes (HMAC with the site key) of a referred phone, email or payment identity:
        # kept so that the same person cannot be referred again after leaving and rejoining.
        **{f"ReferralIdentity.{f}": _BOOKS for f in ("kind", "digest", "referral", "created_at")},
        # Reviews: text and link are blanked on erasure (rewards.reviews.reviews_erase).
        **{
            f"Review.{f}": _MEMBERSHIP
            for f in (
                "member",
                "kind",
                "text",
                "url",
                "product",
                "status",
                "submitted_at",
                "moderated_at",
                "moderated_by",
                "reject_reason",
            )
        },
    }
)
NOT_PERSONAL |= {
    "Tier.threshold_points",
    "Tier.threshold_spend_ore",
    "Tier.benefit_picks",
    "Tier.description_sv",
    "Tier.description_en",
    "TierChange.id",
    "BenefitChoice.id",
    "Voucher.id",
    "WaitlistEntry.id",
    "ChallengeProgress.id",
    "MemberBadge.id",
    "ReferralCode.id",
    "Referral.id",
    "ReferralIdentity.id",
    "Review.id",
    # the catalogue and configuration: no member in them
    *{
        f"Benefit.{f}"
        for f in (
            "id",
            "code",
            "kind",
            "name_sv",
            "name_en",
            "description_sv",
            "description_en",
            "min_tier",
            "category",
            "multiplier",
            "active",
        )
    },
    *{
        f"Reward.{f}"
        for f in (
            "id",
            "code",
            "kind",
            "name_sv",
            "name_en",
            "description_sv",
            "description_en",
            "image",
            "image_sizes",
            "image_alt_sv",
            "image_alt_en",
            "points_cost",
            "percent_off",
            "amount_off_ore",
            "min_basket_ore",
            "product_sku",
            "charity",
            "event_starts_at",
            "event_place",
            "valid_days",
            "min_tier",
            "stock_total",
            "stock_left",
            "per_member_limit",
            "starts_at",
            "ends_at",
            "active",
            "created_at",
        )
    },
    # a partner's pool; the code a member got is on their voucher
    *{f"PartnerCode.{f}" for f in ("id", "reward", "code", "voucher", "batch", "uploaded_at")},
    # pictures are staff content, never a member's (docs/pictures.md)
    *{
        f"{model}.{f}"
        for model in ("Badge", "Challenge")
        for f in ("image", "image_sizes", "image_alt_sv", "image_alt_en")
    },
    *{f"Badge.{f}" for f in ("id", "code", "name_sv", "name_en", "symbol")},
    *{
        f"Challenge.{f}"
        for f in (
            "id",
            "code",
            "kind",
            "name_sv",
            "name_en",
            "description_sv",
            "description_en",
            "target",
            "window_days",
            "points",
            "badge",
            "starts_at",
            "ends_at",
            "active",
        )
    },
}

# Plain words for the privacy notice and Mina data: amounts are named, not their unit (öre)
# (consent.processing_register.field_label).
LABELS = {
    "Purchase.total_ore": _("total"),
    "PurchaseLine.unit_price_ore": _("unit price"),
    "PurchaseLine.discount_ore": _("discount"),
    "TierChange.qualifying_value": _("qualifying points or spend"),
}
