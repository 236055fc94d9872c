"""The till's identify answer carries what rewards adds: the tier, the balance, benefits."""

from __future__ import annotations

import pytest

from tests.factories import rewards as rf

pytestmark = pytest.mark.django_db
URL = "/api/v1/members/identify/"


def test_identify_returns_points_balance_and_benefits(till, member):
    client, _key = till
    rf.earned(member, 120)

    response = client.post(URL, {"membership_number": member.membership_number}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["points"] == {"available": 120, "pending": 0, "reserved": 0, "posted": 120}
    assert body["benefits"] == []


def test_identify_schema_documents_points_and_benefits(api_client):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    summary = schema["components"]["schemas"]["MemberSummary"]["properties"]

    assert summary["points"]["$ref"] == "#/components/schemas/Balance"
    assert summary["benefits"]["type"] == "array"
