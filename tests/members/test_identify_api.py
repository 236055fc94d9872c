from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from members.card import card_qr_payload
from members.services import api_key_revoke, card_token_rotate
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/api/v1/members/identify/"


def _client(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client


@pytest.fixture
def key_secret(store):
    _key, secret = factories.api_key_with_secret(store_obj=store, scopes=["members:read"])
    return secret


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("membership_number", None),
        ("phone", "070-123 45 67"),
        ("phone", "+46 70 123 45 67"),
        ("email", "ANNA@example.se"),
        ("card", None),
    ],
)
def test_identify_by_each_identifier(key_secret, field, value):
    member = factories.member_with_user(
        email="anna@example.se", phone="0701234567", first_name="Anna", last_name="Berg"
    )
    if field == "membership_number":
        value = member.membership_number
    if field == "card":
        value = card_qr_payload(member)

    response = _client(key_secret).post(URL, {field: value}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["membership_number"] == member.membership_number
    assert body["first_name"] == "Anna"
    assert body["preferred_language"] == "sv"
    assert "tier" in body


def test_identify_unknown_member_is_404(key_secret):
    response = _client(key_secret).post(URL, {"email": "nobody@example.se"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_member"


@pytest.mark.parametrize(
    "body",
    [{}, {"email": "a@b.se", "phone": "0701234567"}, {"membership_number": "abc"}, {"email": "x"}],
)
def test_identify_malformed_input_is_400(key_secret, body):
    response = _client(key_secret).post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


def test_identify_tampered_card_token_is_400(key_secret, member):
    payload = card_qr_payload(member)
    tampered = payload[:-3] + ("AAA" if not payload.endswith("AAA") else "BBB")
    response = _client(key_secret).post(URL, {"card": tampered}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_card_token"


def test_rotated_card_token_no_longer_identifies(key_secret, member):
    old_payload = card_qr_payload(member)
    rotated = card_token_rotate(member=member, actor=member.user)

    old = _client(key_secret).post(URL, {"card": old_payload}, format="json")
    new = _client(key_secret).post(URL, {"card": card_qr_payload(rotated)}, format="json")

    assert old.status_code == 404
    assert new.status_code == 200


def test_identify_needs_members_read_scope(store, member):
    _key, secret = factories.api_key_with_secret(store_obj=store, scopes=["purchases:write"])
    response = _client(secret).post(URL, {"email": "anna@example.se"}, format="json")
    assert response.status_code == 403
    assert "members:read" in response.json()["error"]["message"]


def test_revoked_key_is_refused(store, member):
    key, secret = factories.api_key_with_secret(store_obj=store)
    api_key_revoke(key=key)
    response = _client(secret).post(URL, {"email": "anna@example.se"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


@pytest.mark.parametrize("header", ["Api-Key nonsense", "Api-Key kk_abc_wrong", "Api-Key kk__"])
def test_bad_key_is_refused(member, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.post(URL, {"email": "anna@example.se"}, format="json")
    assert response.status_code == 401


def test_member_session_cannot_use_integration_endpoint(member):
    client = APIClient()
    client.force_login(member.user)
    response = client.post(URL, {"email": "anna@example.se"}, format="json")
    assert response.status_code == 403


def test_me_returns_own_profile_only(member):
    factories.member_with_user(email="other@example.se")
    client = APIClient()
    client.force_login(member.user)
    response = client.get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["email"] == "anna@example.se"
    assert response.json()["membership_number"] == member.membership_number


def test_me_requires_login(db):
    # 401 with a challenge: API-key auth is the first authenticator.
    assert APIClient().get("/api/v1/me/").status_code == 401
