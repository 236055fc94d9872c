"""Template filters for the loyalty pages: texts in the page's language, SEK amounts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

register = template.Library()


def _sv(language: str) -> bool:
    return (language or "sv").startswith("sv")


@register.filter
def name_in(obj: Any, language: str) -> str:
    """``obj.name_sv`` or ``obj.name_en``."""
    if obj is None:
        return ""
    return obj.name_sv if _sv(language) else obj.name_en


@register.filter
def description_in(obj: Any, language: str) -> str:
    if obj is None:
        return ""
    return obj.description_sv if _sv(language) else obj.description_en


def points_grouped(points: int | None, language: str | None = None) -> str:
    """A number of points with its thousands grouped as the language writes them:
    "12 480" (no-break space) in Swedish, "12,480" in English."""
    if points is None:
        return ""
    text = f"{points:,}"
    return text if (language or "sv").startswith("en") else text.replace(",", "\u00a0")


@register.filter
def grouped(points: int | None, language: str) -> str:
    """``{{ balance.available|grouped:language }}``: see :func:`points_grouped`."""
    return points_grouped(points, language)


@register.filter
def sek(ore: int | None) -> str:
    """öre as kronor: 5000 -> "50", 4950 -> "49,50"."""
    if ore is None:
        return ""
    value = Decimal(ore) / 100
    text = f"{value:.0f}" if value == value.to_integral() else f"{value:.2f}".replace(".", ",")
    return text


@register.filter
def image_alt_in(reward: Any, language: str) -> str:
    return reward.image_alt_for("sv" if _sv(language) else "en")
