from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests import factories

# Browser fixtures (one shared headless Chromium) for every test folder.
pytest_plugins = ["tests.browser.fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    """Refuse another engine: the code has one path, PostgreSQL's (COPY, data-modifying
    CTEs, triggers, table locks), so a run elsewhere would only fail confusingly."""
    from django.db import connection

    if connection.vendor != "postgresql":
        engine = connection.settings_dict["ENGINE"]
        raise pytest.UsageError(f"Tests run on PostgreSQL only; DATABASE_URL gives {engine}.")


@pytest.fixture(autouse=True)
def _benchmarks_alone(request: pytest.FixtureRequest) -> Iterator[None]:
    """A benchmark's short form (marker ``bench``) keeps both cores busy for up to a minute;
    a test that holds the club to a time budget (marker ``timing``: an offer on the phone
    within 3 s) must not run beside one, on the other xdist worker, or it measures the
    benchmark. Both take a lock file that the run's workers share: a benchmark alone, timing
    tests together. Every other test runs as before."""
    bench = request.node.get_closest_marker("bench") is not None
    timing = request.node.get_closest_marker("timing") is not None
    if not bench and not timing:
        yield
        return
    run = getattr(request.config, "workerinput", {}).get("testrunuid", "solo")
    lock = Path(tempfile.gettempdir()) / f"kundklubb-tests-{run}.lock"
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if bench else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Rate-limit counters live in Redis; start each test with none."""
    cache.clear()
    # rewards caches earning rules and products per process; each test has its own rows
    from rewards.purchases.products import products_cache_clear
    from rewards.rules.earning import rules_cache_clear

    rules_cache_clear()
    products_cache_clear()
    # the API throttle's per-process batches of integration-key counts
    from members.api.throttling import shares_clear

    shares_clear()


@pytest.fixture
def store(db: Any):
    return factories.store(code="sthlm-test", name="Drottninggatan")


@pytest.fixture
def member(db: Any):
    return factories.member_with_user(
        email="anna@example.se", first_name="Anna", last_name="Svensson"
    )


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def till(store) -> tuple[APIClient, Any]:
    """An API client authenticated as a till in ``store`` with every scope."""
    from members.api.scopes import SCOPES

    key, secret = factories.api_key_with_secret(store_obj=store, scopes=list(SCOPES))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    return client, key


@pytest.fixture(autouse=True)
def _consent_defaults(request: pytest.FixtureRequest) -> None:
    """Purposes, interests and the first policy version come from a data migration; a
    transactional test's flush (also left behind for ``--reuse-db``) removes them, so every
    database test gets them back (three queries when they are there; consent.defaults)."""
    if request.node.get_closest_marker("django_db") is None and not (
        {"db", "transactional_db"} & set(request.fixturenames)
    ):
        return
    request.getfixturevalue("_django_db_helper")
    from django.apps import apps

    from consent.defaults import defaults_ensure

    defaults_ensure(apps)


@pytest.fixture
def sms_outbox(settings: Any) -> Iterator[list[Any]]:
    """Text messages kept in ``members.sms.outbox`` instead of going to the provider."""
    from members import sms

    settings.CAMPAIGNS_SMS_BACKEND = "locmem"
    sms.outbox.clear()
    yield sms.outbox
    sms.outbox.clear()
