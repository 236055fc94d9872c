from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from tests import factories


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Rate-limit counters live in Redis; start each test with none."""
    cache.clear()


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
