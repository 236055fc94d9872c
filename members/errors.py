"""Domain errors shared by every app.

Services raise these; the API maps them to a JSON body with a stable ``code`` and the
status below, and pages show ``message`` as a form error. Input that has the wrong shape
is a Django ``ValidationError`` raised before anything is written.
"""

from __future__ import annotations

from typing import ClassVar

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """Base class: something the caller asked for cannot be done as asked."""

    code: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400
    default_message: ClassVar[str | Promise] = _("The request could not be carried out.")

    def __init__(self, message: str | Promise | None = None, **details: object) -> None:
        self.message = str(message or self.default_message)
        self.details = details
        super().__init__(self.message)


class NotFoundError(DomainError):
    code = "not_found"
    status = 404
    default_message = _("Not found.")


class ConflictError(DomainError):
    code = "conflict"
    status = 409
    default_message = _("The request conflicts with the current state.")


class ForbiddenError(DomainError):
    code = "forbidden"
    status = 403
    default_message = _("You may not do this.")


class UnknownMemberError(NotFoundError):
    code = "unknown_member"
    default_message = _("No member matches that identifier.")


class AmbiguousMemberError(ConflictError):
    """An identifier (a phone number a family shares) names several members. ``details``
    carries their ``membership_numbers`` and nothing else: the till asks which one and
    identifies again by membership number or card."""

    code = "ambiguous_member"
    default_message = _(
        "Several members share this phone number. Ask which membership it is and identify "
        "by membership number or card."
    )


class InvalidCardTokenError(DomainError):
    code = "invalid_card_token"
    default_message = _("The card code is not valid.")
