"""Issue 11: no page or API answer that carries a member's data may be kept by a browser or a
proxy: ``Cache-Control: no-store`` (``members.middleware.NoStoreMiddleware``).

The member pages are found by walking the URL resolver, not listed by hand, so a page added
later is held to the same rule."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from members.api.scopes import SCOPES
from members.card import card_qr_payload
from tests import factories
from tests.factories import consent as cf
from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db


def _routes(patterns: list[Any] | None = None, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every (route, pattern) of the site, resolvers flattened."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def _path(route: str, values: dict[str, str]) -> str:
    """A concrete path for a route: each converter filled from ``values`` (else a dummy)."""
    route = route.lstrip("^").rstrip("$")
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "1"), route)
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values.get(m.group(1), "1"), path)
    return "/" + path.replace("\\", "")


def _no_store(response: Any) -> bool:
    return "no-store" in response.get("Cache-Control", "")


def _site_routes() -> list[str]:
    return [route for route, _ in _routes() if not route.startswith(("admin/", "api/"))]


@pytest.fixture
def rich(member, store, django_capture_on_commit_callbacks) -> dict[str, str]:
    """The member with a voucher, a finished export and an offer: real ids for the routes."""
    rf.earned(member, 1000)
    reward = rf.reward(code="kaffe", points_cost=100)
    voucher = rf.claim(member, reward)
    with django_capture_on_commit_callbacks(execute=True):
        export = cf.export_requested(member)
    return {
        "code": reward.code,
        "voucher_id": str(voucher.pk),
        "pk": str(export.pk),
    }


def test_every_member_page_answers_no_store(client, member, rich):
    client.force_login(member.user)
    personal = [member.user.email, member.membership_number, member.formatted_membership_number]
    checked = []
    for route in _site_routes():
        path = _path(route, rich)
        response = client.get(path, HTTP_ACCEPT_LANGUAGE="sv")
        body = b"" if getattr(response, "streaming", False) else response.content
        shows_member = any(value.encode() in body for value in personal)
        member_page = route.startswith("mina-sidor/")
        if member_page or shows_member or getattr(response, "streaming", False):
            assert _no_store(response), (path, response.status_code, response.get("Cache-Control"))
            checked.append((path, response.status_code))
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)  # close the export file
    # The walk reached the pages that matter and they answered the member, not a 404
    answered = {path for path, status in checked if status == 200}
    for page in (
        "/mina-sidor/",
        "/mina-sidor/kort/",
        "/mina-sidor/poang/",
        "/mina-sidor/erbjudanden/",
        "/mina-sidor/mina-data/",
        "/mina-sidor/profil/",
        f"/mina-sidor/vouchers/{rich['voucher_id']}/",
        f"/mina-sidor/mina-data/export/{rich['pk']}/ladda-ner/",
    ):
        assert page in answered, (page, checked)


def test_member_pages_answer_no_store_to_visitors_and_posts_too(client, member):
    # A redirect to the login, a 405 or a 404 under "My pages" is no-store as well: the rule
    # is the path's, not the status's.
    for route in _site_routes():
        if route.startswith("mina-sidor/"):
            assert _no_store(client.get(_path(route, {}))), route
    client.force_login(member.user)
    for route in _site_routes():
        if route.startswith("mina-sidor/"):
            assert _no_store(client.post(_path(route, {}), {})), route


def test_the_service_worker_and_manifest_keep_their_own_caching(client, member):
    # The offline card is the service worker's Cache Storage copy (cache.put ignores HTTP
    # caching headers), so the card page's no-store leaves it working; sw.js and the
    # manifest carry no member data and keep their short, revalidated caching.
    client.force_login(member.user)
    assert client.get("/sw.js")["Cache-Control"] == "max-age=0, no-cache"
    assert client.get("/manifest.webmanifest")["Cache-Control"] == "max-age=3600"
    card = client.get("/mina-sidor/kort/")
    assert card.status_code == 200
    assert _no_store(card)


def test_every_api_answer_carries_no_store(member, store):
    _key, secret = factories.api_key_with_secret(store_obj=store, scopes=list(SCOPES))
    till = APIClient()
    till.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    session = APIClient()
    session.force_login(member.user)
    anonymous = APIClient()

    # The answers that carry member data
    identify = till.post(
        "/api/v1/members/identify/", {"card": card_qr_payload(member)}, format="json"
    )
    me = session.get("/api/v1/me/")
    balance = till.post(
        "/api/v1/points/balance/",
        {"member": {"membership_number": member.membership_number}},
        format="json",
    )
    consents = session.get("/api/v1/me/consents/")
    for response in (identify, me, balance, consents):
        assert response.status_code == 200, response.content
        assert _no_store(response), response.get("Cache-Control")
    assert member.membership_number in identify.content.decode()

    # And every route of the API, for each kind of caller, whatever it answers
    for route, _ in _routes():
        if not route.lstrip("^").startswith("api/v1/"):
            continue
        path = _path(route, {"code": "marketing_email"})
        for client in (till, session, anonymous):
            response = client.get(path)
            assert _no_store(response), (path, response.status_code)


def test_logged_in_pages_outside_my_pages_are_not_stored(member):
    # The privacy notice greets a logged-in member in the menu; nothing sets its caching.
    client = Client()
    client.force_login(member.user)
    assert _no_store(client.get("/integritet/"))
