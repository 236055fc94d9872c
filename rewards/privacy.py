"""rewards' parts of the member's export and erasure (consent.privacy_parts; docs/privacy.md).

Purchases, the ledger and lots are bookkeeping: erasure keeps them, pointing at the member's
tombstone, so every balance and total is unchanged; they hold no personal data beyond the
member reference. Rows are exported with every field, so the export always matches the
processing register in ``rewards/personal_data.py``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from django.utils.translation import gettext_lazy as _

from consent.privacy_parts import (
    erasure_step_register,
    export_section_register,
    free_text_register,
    model_row,
)
from members.models import Member
from rewards.models import (
    BenefitChoice,
    ChallengeProgress,
    CheckIn,
    LedgerEntry,
    MemberBadge,
    MemberTier,
    PartnerCode,
    PointBalance,
    PointLot,
    Purchase,
    PurchaseLine,
    Referral,
    ReferralCode,
    ReferralIdentity,
    Reservation,
    Return,
    Review,
    TierChange,
    Voucher,
    WaitlistEntry,
)


def _rows(model: type[Model], path: str) -> Any:
    def rows(member: Member) -> list[dict[str, Any]]:
        return [
            model_row(obj) for obj in model._default_manager.filter(**{path: member}).order_by("pk")
        ]

    return rows


SECTIONS: list[tuple[str, Any, type[Model], str]] = [
    ("tier", _("Your tier"), MemberTier, "member"),
    ("points_balance", _("Your points balance"), PointBalance, "member"),
    ("points_ledger", _("Every points change"), LedgerEntry, "member"),
    ("points_lots", _("Points and when they expire"), PointLot, "member"),
    ("points_reservations", _("Points reserved at checkout"), Reservation, "member"),
    ("purchases", _("Your purchases"), Purchase, "member"),
    ("purchase_lines", _("What you bought"), PurchaseLine, "purchase__member"),
    ("returns", _("Your returns"), Return, "purchase__member"),
    ("checkins", _("Your visits"), CheckIn, "member"),
    ("tier_changes", _("Your tier changes"), TierChange, "member"),
    ("benefit_choices", _("Benefits you chose"), BenefitChoice, "member"),
    ("vouchers", _("Your vouchers"), Voucher, "member"),
    ("partner_codes", _("Partner codes you received"), PartnerCode, "voucher__member"),
    ("waitlist", _("Rewards you are waiting for"), WaitlistEntry, "member"),
    ("challenges", _("Your challenges"), ChallengeProgress, "member"),
    ("badges", _("Your badges"), MemberBadge, "member"),
    ("referral_code", _("Your referral code"), ReferralCode, "member"),
    ("referrals_made", _("Friends you referred"), Referral, "referrer"),
    ("referral_received", _("Who referred you"), Referral, "referred"),
    ("reviews", _("Your reviews and posts"), Review, "member"),
]


def erase_reviews(member: Member) -> None:
    """What the member wrote (and staff's reasons about it) may name them: wiped. The review
    row stays so that points awarded for it keep their source."""
    Review.objects.filter(member=member).exclude(text="", url="", reject_reason="").update(
        text="", url="", reject_reason=""
    )


# What an erased member's purchases keep instead of their request fingerprints.
ERASED_FINGERPRINT = "erased"


def erase_purchase_fingerprints(member: Member) -> None:
    """A purchase's request fingerprint (``purchase_fingerprint``) is a SHA-256 of the
    receipt, total, time and lines, which the purchase's own rows hold, and of the member's
    number: trying all ten-digit numbers finds the number again. Erasure replaces it with a
    constant. It only ever told a till's replay of the same request from another request
    with the same receipt id, and a replay naming an erased member's number is refused
    either way (409): the number is gone."""
    Purchase.objects.filter(member=member).exclude(request_hash=ERASED_FINGERPRINT).update(
        request_hash=ERASED_FINGERPRINT
    )


def _register_free_texts() -> None:
    """Text a till, web shop or staff typed about the member: erasure replaces the member's
    identifiers in it and keeps the row (the books). Receipt and return ids and ledger keys
    are unique, so a replaced one gets the row's id. The ledger's trigger allows exactly
    this change (rewards migration 0006)."""
    free_text_register(model=LedgerEntry, fields=["reason"], member_path="member")
    # "return:<store>:<return id>": the till's return id may carry an identifier
    free_text_register(
        model=LedgerEntry, fields=["idempotency_key"], member_path="member", unique=True
    )
    free_text_register(model=Reservation, fields=["reference"], member_path="member")
    free_text_register(model=Voucher, fields=["used_reference"], member_path="member")
    free_text_register(model=Purchase, fields=["receipt_id"], member_path="member", unique=True)
    free_text_register(
        model=Return, fields=["return_id"], member_path="purchase__member", unique=True
    )


# Keyed hashes of the contact details a member was referred with (rewards.referrals).
def _referral_identities() -> None:
    export_section_register(
        name="referral_identities",
        title=_("Hashed contact details from your invitation"),
        rows=_rows(ReferralIdentity, "referral__referred"),
        model=ReferralIdentity,
        order=200 + (len(SECTIONS) + 1) * 10,
    )


def register() -> None:
    """rewards' parts of export, erasure and free-text search (``RewardsConfig.ready``)."""
    erasure_step_register(name="rewards_reviews", run=erase_reviews, order=50)
    erasure_step_register(
        name="rewards_purchase_fingerprints", run=erase_purchase_fingerprints, order=60
    )
    _register_free_texts()
    for order, (name, title, model, path) in enumerate(SECTIONS, start=1):
        export_section_register(
            name=name, title=title, rows=_rows(model, path), model=model, order=200 + order * 10
        )
    _referral_identities()
