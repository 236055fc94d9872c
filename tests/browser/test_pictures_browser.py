"""On a phone, the reward catalogue shows each reward's picture (decoded: naturalWidth > 0,
the width that fits a 2x screen picked from srcset), a placeholder for a reward without one,
cards without bullets, and the page fetches nothing from another host (docs/pictures.md)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from PIL import Image

from members.pictures.services import picture_attach
from tests import factories
from tests.factories import rewards as rf

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _photo(colour: tuple[int, int, int]) -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (1600, 900), colour).save(out, "JPEG")
    out.seek(0)
    return out


@pytest.mark.parametrize("language", ["sv", "en"])
def test_rewards_page_on_a_phone_shows_pictures_from_this_host_only(
    live_server: Any, new_page: Any, settings: Any, tmp_path: Path, language: str
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    member = factories.member_with_user(preferred_language=language)
    rf.earned(member, 2000)
    for code, colour in (("bio", (90, 40, 140)), ("strumpor", (200, 90, 40))):
        reward = rf.reward(code=code, points_cost=300, name_sv=f"{code} sv", name_en=f"{code} en")
        picture_attach(obj=reward, upload=_photo(colour))
    rf.reward(code="utan-bild", points_cost=400, name_sv="Utan bild", name_en="No picture")
    assert member.user is not None
    client = Client()
    client.force_login(member.user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value

    page = new_page(locale="sv-SE" if language == "sv" else "en-GB")
    page.context.add_cookies(
        [
            {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url},
            {"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url},
        ]
    )
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto(f"{live_server.url}/mina-sidor/beloningar/")
    pictures = page.locator("main img.picture")
    assert pictures.count() == 2
    for index in range(2):
        picture = pictures.nth(index)
        picture.scroll_into_view_if_needed()  # the second is lazy
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=picture.element_handle()
        )
        # a 2x phone takes the 640 px width; the picture spans the card, 16:9, no overflow
        assert picture.evaluate("img => img.currentSrc").endswith("-640.webp")
        box = picture.bounding_box()
        assert box is not None
        assert 300 <= box["width"] <= 390
        assert abs(box["height"] - box["width"] * 9 / 16) <= 2
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= 390
    assert pictures.first.get_attribute("alt") == ("bio sv" if language == "sv" else "bio en")

    # the reward without a picture: the placeholder, the same size, hidden from screen readers
    placeholder = page.get_by_test_id("reward-utan-bild").get_by_test_id("picture-placeholder")
    placeholder.scroll_into_view_if_needed()
    box = placeholder.bounding_box()
    assert box is not None
    assert abs(box["height"] - box["width"] * 9 / 16) <= 2
    assert placeholder.get_attribute("aria-hidden") == "true"

    # no bullets on the cards
    assert "•" not in page.locator("main").inner_text()
    styles = page.locator("main li.card-panel").evaluate_all(
        "items => items.map(li => getComputedStyle(li).listStyleType)"
    )
    assert set(styles) == {"none"}

    # the detail page shows the picture too
    page.get_by_test_id("reward-bio").get_by_role("link").click()
    page.wait_for_url("**/mina-sidor/beloningar/bio/")
    page.wait_for_function(
        "() => { const img = document.querySelector('main img.picture');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )

    # nothing was fetched from anywhere but this host
    host = urlsplit(live_server.url).netloc
    foreign = [
        url for url in requests if not url.startswith("data:") and urlsplit(url).netloc != host
    ]
    assert foreign == []
    assert any("/media/pictures/reward/" in url for url in requests)
