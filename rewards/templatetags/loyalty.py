"""Template filters for the loyalty pages: texts in the page's language, SEK amounts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.dispatch import receiver
from django.template.loader import render_to_string
from django.test.signals import setting_changed
from django.urls import get_script_prefix, get_urlconf
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

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


# --- {% live_news cursor %}: rewards/_live_news.html, rendered once per process ------------

_LIVE_NEWS: dict[tuple[str, str | None, str], tuple[str, str]] = {}
_CURSOR_MARK = "\x00live-news-cursor\x00"


@register.simple_tag
def live_news(cursor: Any) -> SafeString:
    """``{% include "rewards/_live_news.html" with cursor=... %}`` as it renders, the template
    rendered once per process, script prefix, URL conf and language and the cursor put in on
    each request (the include was about 0.05 ms on the points page and Mina sidor). Nothing
    personal is kept: the cursor is the only per-request value."""
    key = (get_script_prefix(), get_urlconf(), get_language() or "")
    parts = _LIVE_NEWS.get(key)
    if parts is None:
        head, tail = render_to_string("rewards/_live_news.html", {"cursor": _CURSOR_MARK}).split(
            _CURSOR_MARK
        )
        parts = _LIVE_NEWS[key] = (head, tail)
    return mark_safe(parts[0] + conditional_escape(localize(cursor)) + parts[1])  # escaped here


@receiver(setting_changed)
def _live_news_settings_changed(*, setting: str, **kwargs: object) -> None:
    if setting in {"ROOT_URLCONF", "STATIC_URL", "STORAGES", "TEMPLATES"}:
        _LIVE_NEWS.clear()
