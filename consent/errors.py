"""Domain errors of consent and privacy requests (codes are stable; messages translated)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from members.errors import ConflictError, DomainError, NotFoundError


class MemberErasedError(ConflictError):
    code = "member_erased"
    default_message = _("This membership has been erased.")


class UnknownPurposeError(NotFoundError):
    code = "unknown_purpose"
    default_message = _("There is no such purpose.")


class ConsentNotApplicableError(DomainError):
    code = "consent_not_applicable"
    default_message = _(
        "This purpose does not rest on consent, so it cannot be granted or withdrawn."
    )


class NoPolicyVersionError(ConflictError):
    code = "no_policy_version"
    default_message = _("No privacy policy is in force yet.")


class ConsentMissingError(ConflictError):
    code = "consent_missing"
    default_message = _("The member has not agreed to this.")


class InvalidUnsubscribeTokenError(DomainError):
    code = "invalid_unsubscribe_link"
    default_message = _("This unsubscribe link is not valid. Log in to change your choices.")


class InvalidConfirmationLinkError(DomainError):
    code = "invalid_confirmation_link"
    default_message = _("This confirmation link is not valid or has expired.")


class PrivacyRequestStateError(ConflictError):
    code = "privacy_request_state"
    default_message = _("The request cannot be changed in its current state.")


class PrivacyRequestBusyError(PrivacyRequestStateError):
    code = "privacy_request_busy"
    default_message = _("A worker is carrying out this request right now.")
