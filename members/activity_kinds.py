"""The kinds of timeline events (``ActivityEvent.kind``), apart from the timeline's code so
that labels and models can name them without importing the timeline (members.activity
re-exports ``Kind``)."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    JOINED = "joined"
    EMAIL_VERIFIED = "email_verified"
    ACCOUNT_ACTIVATED = "account_activated"
    PROFILE_UPDATED = "profile_updated"
    CARD_ROTATED = "card_rotated"
    LANGUAGE_CHANGED = "language_changed"
    PURCHASED = "purchased"
    RETURNED = "returned"
    PURCHASE_CLAIMED = "purchase_claimed"
    CHECKED_IN = "checked_in"
    POINTS_ADJUSTED = "points_adjusted"
    POINTS_REDEEMED = "points_redeemed"
    POINTS_EXPIRED = "points_expired"
    REWARD_CLAIMED = "reward_claimed"
    VOUCHER_USED = "voucher_used"
    TIER_CHANGED = "tier_changed"
    BENEFIT_CHOSEN = "benefit_chosen"
    VOUCHER_CANCELLED = "voucher_cancelled"
    WAITLIST_JOINED = "waitlist_joined"
    REFERRAL_JOINED = "referral_joined"
    REVIEW_SUBMITTED = "review_submitted"
    CHALLENGE_COMPLETED = "challenge_completed"
    REFERRAL_COMPLETED = "referral_completed"
    REVIEW_APPROVED = "review_approved"
    CONSENT_GRANTED = "consent_granted"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    PREFERENCES_CHANGED = "preferences_changed"
    INTERESTS_CHANGED = "interests_changed"
    INTERESTS_ASKED = "interests_asked"  # the sign-up step "Vad gillar du?" was shown, once
    MESSAGE_RECEIVED = "message_received"
    OFFER_ACTIVATED = "offer_activated"
    DATA_EXPORTED = "data_exported"
    ERASURE_REQUESTED = "erasure_requested"
    ERASURE_CANCELLED = "erasure_cancelled"
    ERASED = "erased"
    MERGED = "merged"
