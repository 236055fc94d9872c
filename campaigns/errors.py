"""campaigns' domain errors (members.errors.DomainError: a stable code and HTTP status)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy

from members.errors import ConflictError, DomainError


class CampaignStateError(ConflictError):
    code = "campaign_state"
    default_message = gettext_lazy("The campaign cannot do that in its current state.")


class CampaignInvalidError(DomainError):
    code = "campaign_invalid"


class OfferNotActivatableError(ConflictError):
    code = "offer_not_activatable"


class OfferExpiredError(OfferNotActivatableError):
    """Not activated or collected by its last day (``MemberOffer.available_until``)."""

    code = "offer_expired"


class NoClearWinnerError(ConflictError):
    code = "no_clear_winner"
    default_message = gettext_lazy(
        "No variant is clearly better yet; choose one to promote it anyway."
    )


class PromoteNotAllowedError(ConflictError):
    code = "promote_not_allowed"
    default_message = gettext_lazy("Promote the winner after the test run has finished.")


class SegmentCriteriaError(DomainError):
    code = "invalid_segment_criteria"
