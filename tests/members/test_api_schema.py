"""The OpenAPI schema and its interactive docs, served without any internet asset."""

from __future__ import annotations

import re

import pytest
import yaml

pytestmark = pytest.mark.django_db


def test_schema_documents_the_members_endpoints(client):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    identify = schema["paths"]["/api/v1/members/identify/"]["post"]
    assert set(identify["responses"]) >= {"200", "400", "403", "404"}
    assert {"ApiKey": []} in identify["security"]
    assert "/api/v1/me/" in schema["paths"]
    assert schema["components"]["securitySchemes"]["ApiKey"]["in"] == "header"


def test_api_docs_load_everything_from_our_own_origin(client):
    html = client.get("/api/docs/").content.decode()

    assert "swagger-ui" in html
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert url.startswith("/"), url
