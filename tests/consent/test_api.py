"""The member's own consents over the API."""

from __future__ import annotations

import pytest

from consent.models import ConsentEvent
from consent.selectors import contact_permission
from tests import factories

pytestmark = pytest.mark.django_db
URL = "/api/v1/me/consents/"


@pytest.fixture
def member_api(api_client, member):
    api_client.force_authenticate(member.user)
    return api_client


def test_my_consents_lists_each_purpose(member_api):
    body = member_api.get(URL).json()

    codes = {c["purpose"] for c in body["consents"]}
    assert {"marketing_email", "marketing_sms", "profiling"} <= codes
    assert "membership" not in codes
    assert all(c["granted"] is False for c in body["consents"])
    assert body["policy_version"]


def test_my_consent_put_grants_and_withdraws_with_source_api(member_api, member):
    granted = member_api.put(URL + "marketing_email/", {"granted": True}, format="json")
    withdrawn = member_api.put(URL + "marketing_email/", {"granted": False}, format="json")

    assert granted.status_code == 200
    assert granted.json()["granted"] is True
    assert withdrawn.json()["granted"] is False
    assert list(ConsentEvent.objects.filter(member=member).values_list("source", flat=True)) == [
        "api",
        "api",
    ]
    assert contact_permission(member=member, purpose="marketing_email", channel="email").reason == (
        "withdrawn"
    )


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("membership/", {"granted": False}, 404, "not_found"),
        ("nope/", {"granted": True}, 404, "not_found"),
        ("profiling/", {"granted": "maybe"}, 400, "invalid_input"),
        ("profiling/", {}, 400, "invalid_input"),
        ("profiling/", {"granted": True, "policy_version": "1999"}, 400, "invalid_input"),
    ],
)
def test_my_consent_put_bad_input_changes_nothing(member_api, member, path, body, status, code):
    response = member_api.put(URL + path, body, format="json")

    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert not ConsentEvent.objects.filter(member=member).exists()


def test_my_consents_needs_a_member(api_client):
    assert api_client.get(URL).status_code in (401, 403)
    api_client.force_authenticate(factories.staff_user())
    assert api_client.get(URL).status_code == 403
