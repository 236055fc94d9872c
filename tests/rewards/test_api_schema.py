"""Schemathesis against the OpenAPI schema of the integration API (tills and the web shop:
identify, purchases, returns, points, check-ins, vouchers; bounded, part of the suite):
generated requests, valid and not, never get a 500 and every answer matches the schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from members.api.scopes import SCOPES
from tests import factories
from tests.factories import rewards as rf

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).include(
    path_regex=r"^/api/v1/(members/identify|purchases|points|checkins|vouchers)/"
)


@pytest.fixture
def api_key_header(db) -> Iterator[dict[str, str]]:
    """A till with every scope, a member with points, and a base rule; requests run in this
    test's transaction (the in-process app must not close the connection after a request)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    store = factories.store(code="schema-store")
    _key, secret = factories.api_key_with_secret(store_obj=store, scopes=list(SCOPES))
    member = factories.member_with_user(email="schema@example.se")
    rf.earned(member, 10_000)
    rf.base_rule()
    yield {"Authorization": f"Api-Key {secret}"}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_points_api_conforms_to_schema(case, api_key_header):
    response = case.call(headers=api_key_header)
    case.validate_response(
        response,
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
