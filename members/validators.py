"""Validation of what members type about themselves, in one place.

Used by the sign-up and profile forms, the member admin (through the model fields'
validators), the services every write goes through (``members.services._clean_profile``) and
allauth's email forms (``members.adapters.AccountAdapter.clean_email``).
"""

from __future__ import annotations

import datetime
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

# The User model's email column (RFC 5321's 254-character path limit).
EMAIL_MAX_LENGTH = 254
# The earliest birth date anyone alive can have, with room to spare.
BIRTH_DATE_EARLIEST = datetime.date(1900, 1, 1)

# Control (Cc: NUL, tab, newline, ESC of ANSI sequences…), format (Cf: bidi overrides, zero
# width spaces, soft hyphen…), surrogate, line and paragraph separator characters.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
# Zero-width non-joiner and joiner are format characters that spell names in Persian and
# Indic scripts; they move no text and control no terminal.
_ALLOWED_FORMAT = {"\u200c", "\u200d"}


def email_length_validate(value: str) -> None:
    """Refuse an address longer than the login column, instead of allauth cutting it off."""
    if value and len(value) > EMAIL_MAX_LENGTH:
        raise ValidationError(
            _(
                "The email address is too long: at most %(max)d characters "
                "(this one has %(length)d)."
            )
            % {"max": EMAIL_MAX_LENGTH, "length": len(value)},
            code="email_too_long",
        )


def name_validate(value: str) -> None:
    """Refuse control and invisible formatting characters (ANSI escapes, bidi overrides) in a
    name; ordinary spaces, hyphens, apostrophes and every letter of every script are fine."""
    if any(
        unicodedata.category(char) in _REFUSED_CATEGORIES and char not in _ALLOWED_FORMAT
        for char in value or ""
    ):
        raise ValidationError(
            _("A name cannot contain control characters or invisible formatting characters."),
            code="control_character",
        )


def postcode_normalise(value: str) -> str:
    """A Swedish postcode as it is written, ``114 55``, from ``11455`` or ``114 55``; blank
    stays blank. Raises ``ValidationError`` for anything that is not five digits."""
    digits = (value or "").replace(" ", "")
    if not digits:
        return ""
    if len(digits) != 5 or not digits.isascii() or not digits.isdigit() or digits[0] == "0":
        raise ValidationError(
            _("Not a Swedish postcode: five digits, such as 114 55."), code="invalid_postcode"
        )
    return f"{digits[:3]} {digits[3:]}"


def birth_date_validate(value: datetime.date | None, *, today: datetime.date | None = None) -> None:
    """Raise ``ValidationError`` for a birth date before 1900, in the future or under the
    club's minimum age (``MEMBER_MINIMUM_AGE``)."""
    if value is None:
        return
    today = today or timezone.localdate()
    if value < BIRTH_DATE_EARLIEST:
        raise ValidationError(
            _("Enter a birth date in %(year)d or later.") % {"year": BIRTH_DATE_EARLIEST.year},
            code="too_early",
        )
    if value > today:
        raise ValidationError(_("The birth date cannot be in the future."), code="future")
    minimum = settings.MEMBER_MINIMUM_AGE
    try:
        latest_allowed = today.replace(year=today.year - minimum)
    except ValueError:  # 29 February
        latest_allowed = today.replace(year=today.year - minimum, day=28)
    if value > latest_allowed:
        raise ValidationError(
            _("You must be at least %(age)d years old to join.") % {"age": minimum},
            code="too_young",
        )
