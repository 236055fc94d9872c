"""The digital card page: QR code, rotation, installable (manifest) and offline (service worker)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from members.card import card_qr_payload
from members.models import Member
from tests import factories

pytestmark = pytest.mark.django_db
IDENTIFY = "/api/v1/members/identify/"


@pytest.fixture
def logged_in(client, member):
    client.force_login(member.user)
    return client


def _identify(secret: str, payload: str) -> int:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return api.post(IDENTIFY, {"card": payload}, format="json").status_code


def test_card_page_shows_qr_svg_name_and_number(logged_in, member):
    response = logged_in.get("/mina-sidor/kort/", HTTP_ACCEPT_LANGUAGE="sv")

    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'data-testid="card-qr">\s*<svg', html)
    assert member.formatted_membership_number in html
    assert "Anna Svensson" in html
    assert "Medlemsnummer" in html
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_card_page_requires_login(client):
    response = client.get("/mina-sidor/kort/")
    assert response.status_code == 302
    assert response["Location"].startswith("/konto/login/")


def test_card_rotate_makes_the_old_qr_fail_at_the_identify_api(logged_in, member, store):
    # Given a till and the member's current QR code
    _key, secret = factories.api_key_with_secret(store_obj=store, scopes=["members:read"])
    old_payload = card_qr_payload(member)
    assert _identify(secret, old_payload) == 200

    # When the member asks for a new code on the card page
    response = logged_in.post("/mina-sidor/kort/nytt-qr/")

    # Then the old code no longer identifies anyone and the new one does
    assert response.status_code == 302
    assert response["Location"] == "/mina-sidor/kort/"
    member.refresh_from_db()
    assert card_qr_payload(member) != old_payload
    assert _identify(secret, old_payload) == 404
    assert _identify(secret, card_qr_payload(member)) == 200
    assert member.events.filter(kind="card_rotated").count() == 1
    # And the page after the redirect shows the new code
    page = logged_in.get("/mina-sidor/kort/").content.decode()
    assert "Old screenshots" in page or "Gamla skärmbilder" in page


def test_card_rotate_needs_post(logged_in, member):
    before = member.card_token
    assert logged_in.get("/mina-sidor/kort/nytt-qr/").status_code == 405
    member.refresh_from_db()
    assert member.card_token == before


def test_manifest_is_served_as_web_app_manifest(client):
    response = client.get("/manifest.webmanifest")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/manifest+json")
    manifest = json.loads(response.content)
    assert manifest["start_url"] == "/mina-sidor/kort/"
    assert manifest["display"] == "standalone"
    assert manifest["icons"][0]["src"].startswith("/static/")


def test_service_worker_is_served_from_the_root_as_javascript(client):
    response = client.get("/sw.js")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    body = response.content.decode()
    # the pages it keeps are those answered with Kundklubb-Offline-Copy (members.offline)
    assert 'const HEADER = "Kundklubb-Offline-Copy"' in body
    assert 'const OFFLINE_URL = "/offline/"' in body
    assert 'const LOGOUT_URL = "/konto/logout/"' in body
    assert "caches.match" in body


@pytest.mark.parametrize(
    ("url", "as_member"),
    [
        ("/", False),
        ("/konto/login/", False),
        ("/konto/signup/", False),
        ("/mina-sidor/", True),
        ("/mina-sidor/kort/", True),
        ("/mina-sidor/profil/", True),
        ("/api/docs/", False),
    ],
)
def test_pages_send_a_content_security_policy_and_reference_nothing_external(
    client, member, url, as_member
):
    if as_member:
        client.force_login(member.user)
    response = client.get(url)

    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "object-src 'none'" in csp
    html = response.content.decode()
    for attr, value in re.findall(r'\b(src|href|action)="([^"]*)"', html):
        assert value.startswith(("/", "#")) or value == "", f"{attr}={value} on {url}"


def test_base_template_references_no_external_asset():
    source = (Path(settings.BASE_DIR) / "templates" / "base.html").read_text()
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", source, re.I)


def test_erased_member_cannot_open_the_card(client, member):
    Member.objects.filter(pk=member.pk).update(erased_at="2026-01-01T00:00:00Z")
    client.force_login(member.user)
    response = client.get("/mina-sidor/kort/")
    assert response.status_code == 302
