"""The card page answers ``Cache-Control: no-store`` (issue 11), and still opens offline: the
service worker keeps its own copy in the Cache Storage API, which HTTP caching headers do not
govern (members/templates/members/sw.js)."""

from __future__ import annotations

import re
import time

import pytest

from tests import factories
from tests.browser.fixtures import PHONE_VIEWPORT, TIMEOUT_MS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The card answers "Vary: Cookie, Accept-Language"; a bare URL carries neither header.
HAS_CARD_COPY = """async () => {
  const cache = await caches.open("kundklubb-member-v1");
  return !!(await cache.match(location.href, { ignoreVary: true }));
}"""


def test_card_is_no_store_and_still_opens_offline(live_server, browser):
    member = factories.member_with_user(
        email="offline@example.se", first_name="Olle", last_name="Frånkopplad"
    )
    # Service workers are blocked in the other browser tests; this one is about them.
    context = browser.new_context(viewport=PHONE_VIEWPORT, locale="sv-SE", service_workers="allow")
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(live_server.url + "/konto/login/")
        page.fill("input[name=login]", "offline@example.se")
        page.fill("input[name=password]", "correct-horse-battery")
        page.locator("main form button[type=submit]").last.click()
        page.wait_for_url(re.compile(r"/mina-sidor/$"))

        # Given the member has opened their card once online (answered no-store)
        response = page.goto(live_server.url + "/mina-sidor/kort/")
        assert response is not None
        assert "no-store" in response.headers["cache-control"]
        page.wait_for_function("navigator.serviceWorker.controller !== null")
        page.reload()  # now through the service worker, which keeps a copy
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while not page.evaluate(HAS_CARD_COPY):
            assert time.monotonic() < deadline, "the service worker kept no copy of the card"
            time.sleep(0.1)

        # When the phone goes offline and the card is opened again
        context.set_offline(True)
        page.reload()

        # Then the card is there, from the service worker's copy
        card = page.locator(".membership-card").inner_text()
        assert member.formatted_membership_number in card
        assert "Olle Frånkopplad" in card
        assert page.locator("[data-testid=card-qr] svg").count() == 1
    finally:
        context.close()
