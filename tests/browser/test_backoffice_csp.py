"""The back-office's points pages and the API docs in a real browser: the icon loads, nothing
is refused by the Content-Security-Policy, and Swagger UI runs from local files (issue 14)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import expect

from members.roles import ADMINISTRATOR
from tests import factories
from tests.factories import rewards as rf

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DESKTOP = {"width": 1280, "height": 900}


def _watched_page(new_page: Any, live_server: Any, user: Any) -> tuple[Any, list[str]]:
    """A logged-in desktop page that records CSP refusals, failed requests, 4xx/5xx answers
    and requests to anywhere but the site."""
    client = Client()
    client.force_login(user)
    page = new_page(viewport=DESKTOP)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if msg.type == "error" or "Content Security Policy" in msg.text
            else None
        ),
    )
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
    page.on(
        "response",
        lambda response: (
            problems.append(f"{response.status}: {response.url}")
            if response.status >= 400
            else None
        ),
    )
    page.on(
        "request",
        lambda request: (
            problems.append(f"outside: {request.url}")
            if not request.url.startswith((live_server.url, "data:"))
            else None
        ),
    )
    return page, problems


def test_points_pages_and_api_docs_load_cleanly(live_server, new_page):
    # Given an administrator and a member with points
    member = factories.member_with_user(first_name="Stina")
    rf.earned(member, 250)
    page, problems = _watched_page(new_page, live_server, factories.staff_user(role=ADMINISTRATOR))

    # When they open the balances, the member's points page and the API docs
    page.goto(live_server.url + "/admin/rewards/pointbalance/")
    expect(page.locator("#liability")).to_be_visible()
    page.goto(live_server.url + f"/admin/rewards/pointbalance/member/{member.pk}/")
    expect(page.locator("#available")).to_have_text("250")
    icon = page.request.get(live_server.url + "/favicon.ico")
    page.goto(live_server.url + "/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Kundklubb API")

    # Then the icon is served, and nothing was refused, missing or fetched from elsewhere
    assert icon.ok
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert problems == []
