"""Dates, times and amounts as a member reads them (issue 16, "Language and formats").

Swedish pages: "4 dec. 2026", "14:05", "4 dec. 2026 14:05", "1 298 kr", "12,50 kr".
English pages: the day before the month and a 24-hour clock, "4 Dec 2026", "14:05",
"1,298 kr", "12.50 kr"; never "12/04/2026" or "5:34 p.m.".

Every member page writes dates and amounts through these functions (or their template
filters in ``members.templatetags.member_formats``), so that a page cannot slip into Django's
American defaults. Times are in the site's time zone (``TIME_ZONE``).
"""

from __future__ import annotations

import datetime

from django.utils import timezone
from django.utils.translation import get_language

# Språkrådet's abbreviations: short months end in a full stop, "mars", "maj", "juni" and
# "juli" are written out.
_MONTHS_SV = [
    *("", "jan.", "feb.", "mars", "apr.", "maj", "juni"),
    *("juli", "aug.", "sep.", "okt.", "nov.", "dec."),
]
_MONTHS_EN = [
    "",
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
]


def _english(language: str | None) -> bool:
    return (language or get_language() or "sv").startswith("en")


def _local(value: datetime.date) -> datetime.date:
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        return timezone.localtime(value)
    return value


def months_short(language: str | None = None) -> list[str]:
    """The short month names of ``date_short``, index 1-12 ("dec." or "Dec")."""
    return _MONTHS_EN if _english(language) else _MONTHS_SV


def date_short(value: datetime.date | None, language: str | None = None) -> str:
    """``4 dec. 2026`` (Swedish), ``4 Dec 2026`` (English); "" for ``None``."""
    if value is None:
        return ""
    local = _local(value)
    months = _MONTHS_EN if _english(language) else _MONTHS_SV
    return f"{local.day} {months[local.month]} {local.year}"


def time_short(value: datetime.datetime | datetime.time | None) -> str:
    """``14:05`` in both languages; "" for ``None``."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime) and timezone.is_aware(value):
        value = timezone.localtime(value)
    return f"{value.hour:02d}:{value.minute:02d}"


def datetime_short(value: datetime.datetime | None, language: str | None = None) -> str:
    """``4 dec. 2026 14:05`` (Swedish), ``4 Dec 2026 14:05`` (English)."""
    if value is None:
        return ""
    return f"{date_short(value, language)} {time_short(value)}"


def number_grouped(number: int, language: str | None = None) -> str:
    """``1298`` -> ``1 298`` (a no-break space, Swedish) or ``1,298`` (English)."""
    text = f"{number:,}"
    return text if _english(language) else text.replace(",", "\u00a0")


def kronor_short(ore: int | None, language: str | None = None) -> str:
    """An amount stored in öre as a member reads it: ``129800`` -> ``1 298 kr``, ``1250`` ->
    ``12,50 kr`` (Swedish; ``1,298 kr`` and ``12.50 kr`` in English). Whole kronor carry no
    decimals; "" for ``None``."""
    if ore is None:
        return ""
    sign = "−" if ore < 0 else ""
    kronor, rest = divmod(abs(ore), 100)
    text = number_grouped(kronor, language)
    if rest:
        text += ("." if _english(language) else ",") + f"{rest:02d}"
    return f"{sign}{text}\u00a0kr"


def kronor_number(ore: int | None, language: str | None = None) -> str:
    """``kronor_short`` without " kr", for a message that writes the unit itself."""
    return kronor_short(ore, language).removesuffix("\u00a0kr")
