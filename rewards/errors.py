"""Domain errors of rewards (stable codes): the points ledger, purchases, the integration API,
tiers, the reward catalogue and vouchers, referrals and reviews."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from members.errors import ConflictError, DomainError, ForbiddenError, NotFoundError


class InsufficientPointsError(ConflictError):
    code = "insufficient_points"
    default_message = _("There are not enough points available.")


class IdempotencyConflictError(ConflictError):
    code = "idempotency_conflict"
    default_message = _("This idempotency key was already used with a different request.")


class DuplicateReceiptConflictError(ConflictError):
    code = "duplicate_receipt_conflict"
    default_message = _("This receipt was already recorded with different contents.")


class DuplicateReturnConflictError(ConflictError):
    code = "duplicate_return_conflict"
    default_message = _("This return was already recorded with different contents.")


class UnknownReceiptError(NotFoundError):
    code = "unknown_receipt"
    default_message = _("No purchase with that receipt id in this store.")


class UnknownReservationError(NotFoundError):
    code = "unknown_reservation"
    default_message = _("No such reservation.")


class ReservationExpiredError(ConflictError):
    code = "reservation_expired"
    default_message = _("The reservation has timed out; its points were released.")


class ReservationResolvedError(ConflictError):
    code = "reservation_already_resolved"
    default_message = _("The reservation was already captured or released.")


class CaptureExceedsReservationError(DomainError):
    code = "capture_exceeds_reservation"
    default_message = _("You cannot capture more points than were reserved.")


class ReturnExceedsPurchaseError(DomainError):
    code = "return_exceeds_purchase"
    default_message = _("The return is larger than what is left of the purchase.")


class UnknownLineError(DomainError):
    code = "unknown_line"
    default_message = _("The purchase has no such line.")


class PurchaseNotClaimableError(DomainError):
    code = "purchase_not_claimable"
    default_message = _(
        "We found no unclaimed purchase with that store, receipt number and amount "
        "in the claim period."
    )


class PurchaseClaimLimitedError(DomainError):
    """Too many wrong claims by this member, or for this receipt: the total must not be
    guessable (docs/security.md)."""

    code = "purchase_claim_limited"
    status = 429
    default_message = _(
        "Too many attempts to register a purchase. Try again in an hour, or ask the staff "
        "in the store for help."
    )


class PurchaseAlreadyClaimedError(ConflictError):
    code = "purchase_already_claimed"
    default_message = _("This purchase already belongs to a member.")


class MemberErasedError(DomainError):
    code = "member_erased"
    default_message = _("This membership has ended.")


class MemberMergedError(ConflictError):
    """The member was merged into another (members.merging) while the request was on its
    way: their points and purchases are the survivor's now. ``survivor_id`` for the
    services; the answer names the survivor's membership number, never an internal id."""

    code = "member_merged"
    default_message = _("This member was merged into another member. Identify the member again.")

    def __init__(self, *, survivor_id: int, membership_number: str = "") -> None:
        details = {"membership_number": membership_number} if membership_number else {}
        super().__init__(None, **details)
        self.survivor_id = survivor_id


class RewardNotAvailableError(DomainError):
    code = "reward_not_available"
    default_message = _("This reward is not available right now.")


class TierRequiredError(ForbiddenError):
    code = "tier_required"
    default_message = _("This reward is for members of a higher tier.")


class SoldOutError(ConflictError):
    code = "sold_out"
    default_message = _("Sorry, this reward is sold out.")


class MemberLimitReachedError(ConflictError):
    code = "member_limit_reached"
    default_message = _("You have already claimed this reward as many times as allowed.")


class UnknownVoucherError(NotFoundError):
    code = "unknown_voucher"
    default_message = _("No voucher has that code.")


class VoucherUsedError(ConflictError):
    code = "voucher_used"
    default_message = _("This voucher has already been used.")


class VoucherCancelledError(ConflictError):
    code = "voucher_cancelled"
    default_message = _("This voucher was cancelled.")


class VoucherExpiredError(ConflictError):
    code = "voucher_expired"
    default_message = _("This voucher has expired.")


class BasketBelowMinimumError(DomainError):
    code = "basket_below_minimum"
    default_message = _("The basket is smaller than this voucher's minimum.")


class VoucherNotCancellableError(ConflictError):
    code = "voucher_not_cancellable"
    default_message = _("Only an unused, valid voucher can be cancelled.")


class WaitlistNotOpenError(DomainError):
    code = "waitlist_not_open"
    default_message = _("There is no waiting list for this reward right now.")


class PartnerCodesInvalidError(DomainError):
    code = "partner_codes_invalid"
    default_message = _("The file has no valid codes.")


class BenefitAlreadyChosenError(ConflictError):
    code = "benefit_already_chosen"
    default_message = _("You have already chosen your benefits for this period.")


class BenefitNotAvailableError(DomainError):
    code = "benefit_not_available"
    default_message = _("That benefit is not available in your tier.")


class TooManyBenefitsError(DomainError):
    code = "too_many_benefits"
    default_message = _("Your tier lets you choose fewer benefits than that.")


class UnknownReferralCodeError(NotFoundError):
    code = "unknown_referral_code"
    default_message = _("We found no member with that invitation code.")


class SelfReferralError(DomainError):
    code = "self_referral"
    default_message = _("You cannot use your own invitation code.")


class AlreadyReferredError(ConflictError):
    code = "already_referred"
    default_message = _("You have already been invited by a member.")


class ReferralTooLateError(DomainError):
    code = "referral_too_late"
    default_message = _(
        "An invitation code can only be used by new members before their first purchase."
    )


class DuplicateIdentityError(ConflictError):
    code = "identity_already_referred"
    default_message = _("This phone number, email address or card has already been invited once.")


class TooManyPendingReviewsError(ConflictError):
    code = "too_many_pending_reviews"
    default_message = _(
        "You have several posts waiting for moderation; please wait until we have read them."
    )


class ReviewNotPendingError(ConflictError):
    code = "review_not_pending"
    default_message = _("This post has already been moderated.")


class UnknownReviewError(NotFoundError):
    code = "unknown_review"
    default_message = _("No such review.")
