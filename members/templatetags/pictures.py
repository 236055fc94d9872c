"""``{% picture item language %}``: a reward's, offer's, challenge's or badge's picture with
``srcset``, ``sizes``, width and height (no layout shift), its text for screen readers, or a
drawn placeholder when it has none (docs/pictures.md). Every URL is on this host."""

from __future__ import annotations

from typing import Any

from django import template
from django.core.files.storage import FileSystemStorage, default_storage, storages
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

register = template.Library()

# Where a picture is shown, and the width it takes there (the page is at most 40rem wide).
SIZES = {
    "card": "(min-width: 42rem) 38rem, calc(100vw - 4rem)",
    "thumb": "4.5rem",
    "badge": "3rem",
}

# Placeholder icons (64 x 64, drawn as outlines): a gift, a tag, a flag and a star.
_ICONS = {
    "reward": (
        "M8 26h48v10H8zM12 36h40v22H12zM29 26h6v32h-6zM32 26c-7-13-20-7-13 0M32 26c7-13 20-7 13 0"
    ),
    "offer": "M8 8h24l24 24-24 24L8 32zM20 20a4 4 0 1 0 .1 0z",
    "challenge": "M14 58V8M14 10h34l-7 10 7 10H14",
    "badge": "M32 6l7.6 16.4 17.9 2-13.3 12.2 3.7 17.7L32 45.4 16.1 54.3l3.7-17.7L6.5 24.4l17.9-2z",
}


def _kind(item: Any) -> str:
    name = item._meta.model_name
    return name if name in _ICONS else "reward"


# The markup of each picture and placeholder, made once per process: it says nothing about
# the member (an item's files, sizes and text), and a picture's file names are random and never
# reused (members.pictures.services), so a new upload or text is a new key. Kept small: cleared
# when full. Only for storages whose URLs never change (on this host, MEDIA_URL); the storage's
# base URL is part of the key (tests override MEDIA_URL).
_MARKUP: dict[tuple[Any, ...], SafeString] = {}
_MARKUP_MAX = 2000


def _remember(key: tuple[Any, ...], markup: SafeString) -> SafeString:
    if len(_MARKUP) >= _MARKUP_MAX:
        _MARKUP.clear()
    _MARKUP[key] = markup
    return markup


@register.simple_tag
def picture(item: Any, language: str = "", where: str = "card", eager: bool = False) -> SafeString:
    """The item's picture as ``<img srcset>``, or its placeholder; its text in ``language``
    (the active language when empty). ``where``: "card" (a card's
    full width, 16:9), "thumb" (a square beside a panel's text), "badge" (a small circle)."""
    sizes = getattr(item, "image_sizes", None) or []
    if not sizes:
        return placeholder(item, where)
    alt = item.image_alt_for("sv" if (language or get_language() or "sv")[:2] == "sv" else "en")
    storage = storages["default"]  # what default_storage stands for
    local = storage if type(storage) is FileSystemStorage else None
    if local is not None:
        key = (
            local.base_url,
            where,
            bool(eager),
            alt,
            *(tuple(size) for size in sizes),
        )
        markup = _MARKUP.get(key)
        if markup is not None:
            return markup
    fallback = next((s for s in sizes if s[0] >= 320), sizes[-1])
    width, height = sizes[-1][0], sizes[-1][1]
    srcset = format_html_join(
        ", ", "{} {}w", ((default_storage.url(name), w) for w, _h, name in sizes)
    )
    markup = format_html(
        '<img class="picture picture-{}" src="{}" srcset="{}" sizes="{}" width="{}" '
        'height="{}" alt="{}" loading="{}" decoding="async">',
        where,
        default_storage.url(fallback[2]),
        srcset,
        SIZES.get(where, SIZES["card"]),
        width,
        height,
        alt,
        "eager" if eager else "lazy",
    )
    return _remember(key, markup) if local is not None else markup


@register.simple_tag
def placeholder(item: Any, where: str = "card") -> SafeString:
    """Drawn here, in the card's colours (static/css/app.css ``.picture-placeholder``), and
    hidden from screen readers: the item's name is the heading next to it."""
    kind = _kind(item)
    symbol = getattr(item, "symbol", None)
    key = ("placeholder", kind, where, symbol if kind == "badge" else None)
    markup = _MARKUP.get(key)
    if markup is not None:
        return markup
    if kind == "badge" and symbol:
        return _remember(
            key,
            format_html(
                '<span class="picture picture-{} picture-placeholder picture-placeholder-badge" '
                'aria-hidden="true">{}</span>',
                where,
                symbol,
            ),
        )
    return _remember(
        key,
        format_html(
            '<span class="picture picture-{} picture-placeholder picture-placeholder-{}" '
            'aria-hidden="true" data-testid="picture-placeholder">{}</span>',
            where,
            kind,
            mark_safe(  # constant markup
                '<svg viewBox="0 0 64 64" focusable="false"><path d="'
                + _ICONS[kind]
                + '" fill="none" stroke="currentColor" stroke-width="3.5" '
                'stroke-linejoin="round" stroke-linecap="round"/></svg>'
            ),
        ),
    )
