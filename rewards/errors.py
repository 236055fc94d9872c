"""Domain errors of the points ledger, purchases and the integration API (stable codes)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from members.errors import ConflictError, DomainError, NotFoundError


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
