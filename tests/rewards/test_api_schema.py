"""Schemathesis against the whole OpenAPI schema (every operation under /api/v1/: members,
rewards, consent; campaigns has none yet) with **all** of schemathesis' checks, including
positive-data acceptance (every request the schema calls valid is not refused with 400) and
negative-data rejection (every request the schema calls invalid is refused). Bounded, part
of the suite: about 15 generated cases per operation and phase, no deadline."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from config.wsgi import application
from members.api.scopes import SCOPES
from members.models import ApiKey, Member
from members.services import API_KEY_PREFIX, api_key_hash
from rewards.api.views import MEMBER_EXAMPLE
from tests import factories
from tests.factories import rewards as rf

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application).include(
    path_regex=r"^/api/v1/"
)
# The API refuses a NUL character in any string with 400 `nul_character` (the schema's
# description says so; tests/members/test_bad_input.py and tests/security/ send them): no
# per-field pattern repeats that, so positive cases carry none.
# Credentials are not generated: every case carries the real ones (``_Credentials``).
schema.config.generation.update(
    allow_x00=False, deterministic=True, database="none", with_security_parameters=False
)

# Rules a JSON schema cannot state, each refused with 400 and its own code (named in the
# field's description): one field compared with another, a sum over the lines, the clock, a
# card's signature. A schema-valid request answered with exactly one of these codes is
# exempt from positive_data_acceptance only; every other check still runs on it.
INEXPRESSIBLE = {
    "discount_exceeds_line",  # discount_ore > quantity * unit_price_ore
    "line_amount_too_large",  # quantity * unit_price_ore > 10**11
    "lines_total_too_large",  # the lines' sum > 10**11
    "purchased_at_out_of_range",  # more than an hour ahead, or before 2000
    "invalid_card_token",  # a KK1: payload whose signature does not match
}

# Operations a logged-in member calls with their session (the rest take an integration key).
MEMBER_PATHS = ("/api/v1/me/",)

# Credentials known before any case is generated (schemathesis sets auth while generating,
# some cases before the test's fixtures run); the ``credentials`` fixture makes them real.
KEY_PREFIX, KEY_SECRET = "5c4e3a17f00d", "schemathesis-all-scopes-secret"
SESSION_KEY, CSRF_TOKEN = "schemathesis0member0session0key0", "S" * 32


@schema.auth(refresh_interval=None)
class _Credentials:
    """The all-scopes integration key, or for the member's own endpoints the logged-in
    member's session cookie and CSRF token."""

    def get(self, case: Any, ctx: Any) -> bool:
        return True

    def set(self, case: Any, data: bool, ctx: Any) -> None:
        if case.operation.path.startswith(MEMBER_PATHS):
            case.headers = {**(case.headers or {}), "X-CSRFToken": CSRF_TOKEN}
            case.cookies = {
                **(case.cookies or {}),
                django_settings.SESSION_COOKIE_NAME: SESSION_KEY,
                django_settings.CSRF_COOKIE_NAME: CSRF_TOKEN,
            }
        else:
            secret = f"{API_KEY_PREFIX}_{KEY_PREFIX}_{KEY_SECRET}"
            case.headers = {**(case.headers or {}), "Authorization": f"Api-Key {secret}"}


_cases: Counter[str] = Counter()
_exempt: Counter[str] = Counter()
_statuses: dict[str, Counter[int]] = defaultdict(Counter)
_started = time.monotonic()


@pytest.fixture(scope="module", autouse=True)
def _report_cases(request: pytest.FixtureRequest) -> Iterator[None]:
    """Say how many generated requests schemathesis sent, and what they got, at the end."""
    yield
    if not _cases:
        return
    lines = [
        f"schemathesis: {sum(_cases.values())} cases over {len(_cases)} operations in "
        f"{time.monotonic() - _started:.1f} s; positive_data_acceptance exempted for "
        f"{dict(_exempt) or 'none'}"
    ]
    lines += [f"  {label}: {_cases[label]} cases, {dict(_statuses[label])}" for label in _cases]
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print("\n" + "\n".join(lines))


@pytest.fixture
def credentials(db, client: Client) -> Iterator[None]:
    """A till with every scope (the key above), a member with points and a login (the
    session above), and a base rule; requests run in this test's transaction (the
    in-process app must not close the connection after a request)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    store = factories.store(code="schema-store")
    key, _secret = factories.api_key_with_secret(store_obj=store, scopes=list(SCOPES))
    ApiKey.objects.filter(pk=key.pk).update(prefix=KEY_PREFIX, secret_hash=api_key_hash(KEY_SECRET))
    member = factories.member_with_user(email="schema@example.se")
    # The number in the schema's examples: the examples phase reaches a real member.
    Member.objects.filter(pk=member.pk).update(
        membership_number=MEMBER_EXAMPLE["membership_number"]
    )
    rf.earned(member, 10_000)
    rf.base_rule()
    client.force_login(member.user)
    session_key = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    Session.objects.filter(session_key=session_key).update(session_key=SESSION_KEY)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_conforms_to_schema(case, credentials):
    _cases[case.operation.label] += 1
    response = case.call()
    _statuses[case.operation.label][response.status_code] += 1
    excluded = []
    codes = _error_codes(response)
    if response.status_code == 400 and codes and codes <= INEXPRESSIBLE:
        _exempt.update(codes)
        excluded.append(positive_data_acceptance)
    case.validate_response(response, excluded_checks=excluded)


def _error_codes(response: Any) -> set[str]:
    """The codes of a 400: its own, or those of its field errors when it has them."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return set()
    return set(error.get("details", {}).get("codes", [])) or {error.get("code")}
