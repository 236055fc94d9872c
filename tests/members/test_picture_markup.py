"""``{% picture %}`` keeps each picture's and placeholder's markup once per process
(members/templatetags/pictures.py, docs/benchmarks.md "Member pages"): the markup is what it
was without the cache, and anything that changes it (a new upload, the picture's text, the
language, where it is shown, the media URL) makes a new one."""

from __future__ import annotations

from typing import Any

import pytest

from members.templatetags import pictures
from rewards.models import Badge, Challenge, Reward

SIZES = [[160, 90, "pictures/ab12-160.webp"], [320, 180, "pictures/ab12-320.webp"]]


def reward(**fields: Any) -> Reward:
    values: dict[str, Any] = {
        "code": "kaffe",
        "name_sv": "Kaffe & bulle",
        "name_en": "Coffee & bun",
        "image_sizes": SIZES,
    }
    return Reward(**{**values, **fields})


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    pictures._MARKUP.clear()


def uncached(call: Any) -> str:
    pictures._MARKUP.clear()
    return str(call())


def test_a_picture_is_the_same_markup_from_the_cache() -> None:
    item = reward()
    first = pictures.picture(item, "sv", "thumb", eager=True)
    again = pictures.picture(item, "sv", "thumb", eager=True)
    assert again is first  # from the cache
    assert str(first) == uncached(lambda: pictures.picture(item, "sv", "thumb", eager=True))
    assert 'alt="Kaffe &amp; bulle"' in first
    assert 'srcset="/media/pictures/ab12-160.webp 160w, /media/pictures/ab12-320.webp 320w"' in (
        first
    )
    assert 'loading="eager"' in first


def test_what_changes_the_markup_makes_a_new_one(settings: Any) -> None:
    item = reward()
    shown = str(pictures.picture(item, "sv"))
    assert 'alt="Coffee &amp; bun"' in pictures.picture(item, "en")
    assert 'loading="lazy"' in shown
    assert 'class="picture picture-badge"' in pictures.picture(item, "sv", "badge")
    item.image_alt_sv = "En kopp <kaffe>"
    assert 'alt="En kopp &lt;kaffe&gt;"' in pictures.picture(item, "sv")
    new = reward(image_sizes=[[640, 360, "pictures/cd34-640.webp"]])
    assert "cd34-640.webp 640w" in pictures.picture(new, "sv")
    settings.MEDIA_URL = "/bilder/"
    assert 'src="/bilder/pictures/ab12-320.webp"' in pictures.picture(reward(), "sv")
    assert shown.count("/media/pictures/") == 3


def test_placeholders_from_the_cache_differ_by_kind_and_symbol() -> None:
    star, flag = Badge(code="a", symbol="★"), Badge(code="b", symbol="⚑")
    assert "★" in pictures.picture(star, "sv", "badge")
    assert "⚑" in pictures.picture(flag, "sv", "badge")
    challenge = pictures.picture(Challenge(code="c"), "sv", "thumb")
    gift = pictures.picture(Reward(code="r"), "sv", "thumb")
    assert "picture-placeholder-challenge" in challenge
    assert "picture-placeholder-reward" in gift
    assert str(gift) == uncached(lambda: pictures.picture(Reward(code="r"), "sv", "thumb"))
    assert pictures.picture(Reward(code="r"), "sv", "thumb") is pictures.picture(
        Reward(code="s"), "en", "thumb"
    )


def test_the_cache_is_kept_small(monkeypatch: Any) -> None:
    monkeypatch.setattr(pictures, "_MARKUP_MAX", 3)
    for n in range(10):
        pictures.picture(reward(image_alt_sv=f"Bild {n}"), "sv")
        assert len(pictures._MARKUP) <= 3
