"""Issue 16 on a phone: a purchase at the till and a challenge it completes appear on the
member's open page within 3 s (a real Celery worker completes the challenge); Mina sidor,
the points page and the vouchers open with the network cut, marked "Visas offline,
uppdaterad 14:05", and nobody else's copies stay on a shared phone; the hint to put the card
on the home screen shows once (docs/member-pages.md "Live updates", "Offline and install")."""

from __future__ import annotations

import datetime
import io
import json
import re
import time
import urllib.request
from typing import Any

import pytest
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect

from members.api.scopes import SCOPES
from members.pictures.services import picture_attach
from rewards.models import Badge, Challenge
from tests import factories
from tests.browser.fixtures import PHONE_VIEWPORT, TIMEOUT_MS
from tests.factories import rewards as rf

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timing,  # offers and news within 3 s: never beside a benchmark
    pytest.mark.django_db(transaction=True),
]
PASSWORD = "correct-horse-battery"
PERSONAL_CACHE = "kundklubb-member-v1"
PICTURES_CACHE = "kundklubb-pictures-v1"
TEXTS = {
    "sv": {
        "purchase": "+120 poäng i Södermalm",
        "challenge": "Utmaning klar: +200 poäng",
        "badge": "Nytt märke: Stamkund",
        "banner": r"Visas offline, uppdaterad \d\d:\d\d",
        "offline_page": "Du är offline",
        "hint": "Lägg kortet på hemskärmen",
        "close": "Stäng tipset",
        "logout": "Logga ut",
        "more": "Mer",
    },
    "en": {
        "purchase": "+120 points in Södermalm",
        "challenge": "Challenge complete: +200 points",
        "badge": "New badge: Regular",
        "banner": r"Shown offline, updated \d\d:\d\d",
        "offline_page": "You are offline",
        "hint": "Put the card on your home screen",
        "close": "Close the tip",
        "logout": "Log out",
        "more": "More",
    },
}


def _login(page: Any, base: str, member: Any, language: str) -> None:
    email = member.user.email
    page.context.add_cookies([{"name": "django_language", "value": language, "url": base}])
    page.goto(base + "/konto/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_url(re.compile(r"/mina-sidor/$"))


def _till_purchase(base: str, secret: str, member: Any, *, receipt: str, price_ore: int) -> None:
    """What a till sends: POST /api/v1/purchases/ over HTTP, with its API key."""
    body = {
        "receipt_id": receipt,
        "member": {"membership_number": member.membership_number},
        "total_ore": price_ore,
        "lines": [{"sku": "RUN-1", "quantity": 1, "unit_price_ore": price_ore}],
    }
    request = urllib.request.Request(
        base + "/api/v1/purchases/",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Api-Key {secret}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


@pytest.mark.parametrize("language", ["sv", "en"])
def test_a_purchase_and_the_challenge_it_completes_appear_on_the_open_page(
    live_server, new_page, celery_worker_process, settings, language: str
) -> None:
    # given a member with 500 points, 1 point per krona available at once, and a challenge
    # "shop once" worth 200 points and the badge "Stamkund"
    settings.REWARDS_PENDING_DAYS = 0
    shop = factories.store(name="Södermalm")
    rf.base_rule()
    badge = Badge.objects.create(code="stamkund", name_sv="Stamkund", name_en="Regular")
    Challenge.objects.create(
        code="handla",
        kind=Challenge.Kind.PURCHASES,
        name_sv="Handla en gång",
        name_en="Shop once",
        target=1,
        points=200,
        badge=badge,
        starts_at=timezone.now() - datetime.timedelta(days=1),
    )
    # and "shop three times", the challenge Mina sidor's panel shows (the nearest: its code
    # sorts first while both are at 0)
    Challenge.objects.create(
        code="a-tre",
        kind=Challenge.Kind.PURCHASES,
        name_sv="Handla tre gånger",
        name_en="Shop three times",
        target=3,
        points=300,
        starts_at=timezone.now() - datetime.timedelta(days=1),
    )
    member = factories.member_with_user(first_name="Karin", preferred_language=language)
    rf.earned(member, 500)
    _key, secret = factories.api_key_with_secret(store_obj=shop, scopes=list(SCOPES))
    text = TEXTS[language]

    # and the member's page open on the phone: Mina sidor in Swedish, the points page in
    # English
    page = new_page(locale="sv-SE" if language == "sv" else "en-GB")
    _login(page, live_server.url, member, language)
    if language == "sv":
        balance = page.get_by_test_id("points-available")
        expected = ("500", "820")
    else:
        page.goto(live_server.url + "/mina-sidor/poang/")
        balance = page.get_by_test_id("available")
        expected = ("500 p", "820 p")
    expect(balance).to_have_text(expected[0])
    news = page.get_by_test_id("live-news")
    expect(page.locator("[data-live-news][data-live-ready]")).to_have_count(1)
    assert news.get_attribute("aria-live") == "polite"

    # when the till records a purchase of 120 kr
    started = time.monotonic()
    _till_purchase(live_server.url, secret, member, receipt="R-1", price_ore=12000)

    # then within 3 s the page says so
    expect(news).to_contain_text(text["purchase"], timeout=3_000)
    assert time.monotonic() - started < 3

    # and the worker completes the challenge, which the page tells too, with the badge, and
    # the balance counts both (500 + 120 + 200; the worker is often quick enough for both to
    # come in one poll)
    challenge = news.locator(".live-item", has_text=text["challenge"])
    expect(challenge).to_be_visible(timeout=3_000)
    expect(challenge).to_contain_text(text["badge"])
    expect(balance).to_have_text(expected[1], timeout=3_000)
    assert time.monotonic() - started < 3
    # each piece of news once, the newest first
    assert news.locator(".live-item").count() == 2
    assert text["challenge"] in news.locator(".live-item").first.inner_text()
    if language == "sv":
        # and the panel's bar for "shop three times" moved on without a reload
        panel = page.get_by_test_id("challenge-panel")
        expect(panel.locator("[data-live-challenge-left]")).to_have_text(
            "2 steg kvar", timeout=3_000
        )
        assert panel.locator("progress").evaluate("bar => bar.value") == 1


def _offline_context(browser: Any, language: str) -> Any:
    context = browser.new_context(
        viewport=PHONE_VIEWPORT,
        locale="sv-SE" if language == "sv" else "en-GB",
        service_workers="allow",
        is_mobile=True,
        has_touch=True,
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


_KEPT = (
    "async (path) => {"
    f' const cache = await caches.open("{PERSONAL_CACHE}");'
    " return !!(await cache.match(new URL(path, location.href).href, { ignoreVary: true }));"
    " }"
)


def _wait_kept(page: Any, path: str) -> None:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not page.evaluate(_KEPT, path):
        assert time.monotonic() < deadline, f"the service worker kept no copy of {path}"
        time.sleep(0.1)


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_members_pages_open_offline_and_leave_with_the_member(
    live_server, browser, language: str
) -> None:
    # given a member with points and a voucher, who has looked at their pages on this phone
    member = factories.member_with_user(first_name="Olle", preferred_language=language)
    rf.earned(member, 1500)
    rf.claim(member, rf.reward(code="kaffe", points_cost=100, name_sv="Kaffe", name_en="Coffee"))
    text = TEXTS[language]
    context = _offline_context(browser, language)
    try:
        page = context.new_page()
        _login(page, live_server.url, member, language)
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        kept = ["/mina-sidor/", "/mina-sidor/poang/", "/mina-sidor/vouchers/"]
        for path in kept:
            page.goto(live_server.url + path)
            _wait_kept(page, path)
        expect(page.locator("[data-testid=offline-banner]")).to_be_hidden()

        # when the network is cut
        context.set_offline(True)

        # then each page opens as last seen, marked as shown offline with the time it was saved
        page.goto(live_server.url + "/mina-sidor/")
        expect(page.get_by_test_id("offline-banner")).to_have_text(re.compile(text["banner"]))
        grouped = "1\u00a0400" if language == "sv" else "1,400"
        expect(page.get_by_test_id("points-available")).to_have_text(grouped)
        page.goto(live_server.url + "/mina-sidor/poang/")
        expect(page.get_by_test_id("offline-banner")).to_be_visible()
        expect(page.get_by_test_id("available")).to_have_text(f"{grouped} p")
        page.goto(live_server.url + "/mina-sidor/vouchers/")
        expect(page.get_by_test_id("offline-banner")).to_be_visible()
        expect(page.locator("main")).to_contain_text("Kaffe" if language == "sv" else "Coffee")
        # and a page that was never kept shows the local offline page, not the browser's error
        page.goto(live_server.url + "/mina-sidor/utmaningar/")
        expect(page.get_by_test_id("offline-page")).to_have_text(text["offline_page"])

        # when the member is back online and logs out
        context.set_offline(False)
        # (the offline page reloads itself when the network is back)
        expect(page.get_by_test_id("offline-page")).to_have_count(0)
        page.goto(live_server.url + "/mina-sidor/")
        expect(page.get_by_test_id("offline-banner")).to_be_hidden()
        page.get_by_role("navigation").get_by_text(text["more"]).click()
        page.get_by_role("button", name=text["logout"]).click()
        page.wait_for_url(lambda url: "/mina-sidor/" not in url)

        # then no copy of their pages is left on the phone: offline, Mina sidor is not there
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while any(page.evaluate(_KEPT, path) for path in kept):
            assert time.monotonic() < deadline, "copies left after logging out"
            time.sleep(0.1)
        context.set_offline(True)
        page.goto(live_server.url + "/mina-sidor/")
        expect(page.get_by_test_id("offline-page")).to_be_visible()
        assert "1400" not in page.content().replace("\u00a0", "").replace(",", "")
    finally:
        context.close()


def test_a_different_member_on_the_same_phone_never_sees_the_last_ones_copies(
    live_server, browser
) -> None:
    # given Olle's pages kept on a phone, and his session simply ends (no logging out)
    olle = factories.member_with_user(first_name="Olle")
    rf.earned(olle, 1500)
    anna = factories.member_with_user(first_name="Anna")
    context = _offline_context(browser, "sv")
    try:
        page = context.new_page()
        _login(page, live_server.url, olle, "sv")
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        for path in ("/mina-sidor/", "/mina-sidor/poang/"):
            page.goto(live_server.url + path)
            _wait_kept(page, path)
        context.clear_cookies()

        # when Anna logs in on it and lands on her Mina sidor
        _login(page, live_server.url, anna, "sv")
        _wait_kept(page, "/mina-sidor/")

        # then Olle's points page is gone from the phone, even offline
        assert not page.evaluate(_KEPT, "/mina-sidor/poang/")
        context.set_offline(True)
        page.goto(live_server.url + "/mina-sidor/poang/")
        expect(page.get_by_test_id("offline-page")).to_be_visible()
        page.goto(live_server.url + "/mina-sidor/")
        expect(page.locator("main h1")).to_contain_text("Anna")
    finally:
        context.close()


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_install_hint_shows_once_and_stays_dismissed(
    live_server, new_page, language: str
) -> None:
    member = factories.member_with_user(first_name="Karin", preferred_language=language)
    text = TEXTS[language]
    locale = "sv-SE" if language == "sv" else "en-GB"

    # given a member who opens their card for the first time on this phone
    page = new_page(locale=locale)
    _login(page, live_server.url, member, language)
    page.goto(live_server.url + "/mina-sidor/kort/")

    # then a short hint says how to put it on the home screen, as a labelled region
    hint = page.get_by_role("complementary", name=text["hint"])
    expect(hint).to_be_visible()
    close = hint.get_by_role("button", name=text["close"])
    assert close.bounding_box()["height"] >= 44

    # when they close it, it goes, focus moves on to the page, and it stays closed
    close.click()
    expect(hint).to_be_hidden()
    assert page.evaluate("document.activeElement.id") == "main"
    page.reload()
    expect(page.locator(".membership-card")).to_be_visible()
    expect(page.get_by_test_id("install-hint")).to_be_hidden()

    # given another phone: shown once, it is not shown again even if not closed
    other = new_page(locale=locale)
    _login(other, live_server.url, member, language)
    other.goto(live_server.url + "/mina-sidor/kort/")
    expect(other.get_by_test_id("install-hint")).to_be_visible()
    other.reload()
    expect(other.locator(".membership-card")).to_be_visible()
    expect(other.get_by_test_id("install-hint")).to_be_hidden()

    # and a card opened from the home screen (standalone) never shows it
    installed = new_page(locale=locale)
    installed.add_init_script(
        """const original = window.matchMedia.bind(window);
        window.matchMedia = (query) => query.includes("display-mode: standalone")
          ? { matches: true, media: query, addEventListener() {}, removeEventListener() {} }
          : original(query);"""
    )
    _login(installed, live_server.url, member, language)
    installed.goto(live_server.url + "/mina-sidor/kort/")
    expect(installed.locator(".membership-card")).to_be_visible()
    installed.wait_for_load_state("load")
    expect(installed.get_by_test_id("install-hint")).to_be_hidden()


def test_the_manifest_opens_the_card_standalone(live_server, new_page) -> None:
    page = new_page()
    response = page.goto(live_server.url + "/manifest.webmanifest")
    assert response is not None
    manifest = response.json()
    assert manifest["display"] == "standalone"
    assert manifest["start_url"] == "/mina-sidor/kort/"
    assert manifest["icons"]


# What the phone does when another app comes to the front, or the member comes back.
_VISIBILITY = """(state) => {
  Object.defineProperty(document, "visibilityState", { value: state, configurable: true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_the_page_asks_every_2_s_while_visible_and_not_while_hidden(live_server, new_page) -> None:
    # given a member's points page open on the phone, counting its polls
    member = factories.member_with_user(first_name="Karin")
    page = new_page()
    polls: list[float] = []
    page.on(
        "request",
        lambda r: polls.append(time.monotonic()) if "/mina-sidor/nytt/" in r.url else None,
    )
    _login(page, live_server.url, member, "sv")
    page.goto(live_server.url + "/mina-sidor/poang/")
    expect(page.locator("[data-live-news][data-live-ready]")).to_have_count(1)

    # then it asks about every 2 s while the page is visible
    start = len(polls)
    page.wait_for_timeout(5_000)
    assert 2 <= len(polls) - start <= 4

    # when the page is hidden (another app in front): it stops asking
    page.evaluate(_VISIBILITY, "hidden")
    page.wait_for_timeout(300)  # a poll already on its way may still land
    hidden = len(polls)
    page.wait_for_timeout(5_000)
    assert len(polls) == hidden

    # and when it is shown again it asks at once
    page.evaluate(_VISIBILITY, "visible")
    page.wait_for_timeout(500)
    assert len(polls) == hidden + 1


def _photo(colour: tuple[int, int, int]) -> io.BytesIO:
    out = io.BytesIO()
    Image.new("RGB", (1200, 675), colour).save(out, "JPEG")
    out.seek(0)
    return out


_DECODED = "img => img.complete && img.naturalWidth > 0"


def test_a_kept_page_shows_its_pictures_offline(live_server, browser, settings, tmp_path) -> None:
    # given a running challenge with a picture, shown on Mina sidor, kept on this phone
    settings.MEDIA_ROOT = str(tmp_path / "media")
    member = factories.member_with_user(first_name="Olle", preferred_language="sv")
    badge = Badge.objects.create(code="tre", name_sv="Tre gånger", name_en="Three times")
    challenge = Challenge.objects.create(
        code="handla-tre",
        kind=Challenge.Kind.PURCHASES,
        name_sv="Handla tre gånger",
        name_en="Shop three times",
        target=3,
        points=100,
        badge=badge,
        starts_at=timezone.now() - datetime.timedelta(days=1),
    )
    picture_attach(obj=challenge, upload=_photo((30, 120, 60)))
    context = _offline_context(browser, "sv")
    try:
        page = context.new_page()
        _login(page, live_server.url, member, "sv")
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        page.goto(live_server.url + "/mina-sidor/")
        _wait_kept(page, "/mina-sidor/")
        picture = page.get_by_test_id("challenge-panel").locator("img.picture")
        page.wait_for_function(_DECODED, arg=picture.element_handle())
        source = picture.evaluate("img => img.currentSrc")
        _wait_picture_kept(page, source)

        # when the browser's own cache has let the picture go (phones evict it) and the
        # network is cut
        page.context.new_cdp_session(page).send("Network.clearBrowserCache")
        context.set_offline(True)

        # then the kept page opens with its picture
        page.goto(live_server.url + "/mina-sidor/")
        expect(page.get_by_test_id("offline-banner")).to_be_visible()
        picture = page.get_by_test_id("challenge-panel").locator("img.picture")
        page.wait_for_function(_DECODED, arg=picture.element_handle())
        assert picture.evaluate("img => img.currentSrc") == source

        # and logging out (back online) leaves no picture of theirs on the phone either
        context.set_offline(False)
        page.goto(live_server.url + "/mina-sidor/")
        page.get_by_role("navigation").get_by_text("Mer").click()
        page.get_by_role("button", name="Logga ut").click()
        page.wait_for_url(lambda url: "/mina-sidor/" not in url)
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while page.evaluate(_PICTURE_KEPT, source):
            assert time.monotonic() < deadline, "pictures left after logging out"
            time.sleep(0.1)
    finally:
        context.close()


_PICTURE_KEPT = (
    "async (url) => {"
    f' const cache = await caches.open("{PICTURES_CACHE}");'
    " return !!(await cache.match(url, { ignoreVary: true }));"
    " }"
)


def _wait_picture_kept(page: Any, url: str) -> None:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not page.evaluate(_PICTURE_KEPT, url):
        assert time.monotonic() < deadline, f"the service worker kept no copy of {url}"
        time.sleep(0.1)
