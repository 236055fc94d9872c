from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.apps import apps

from consent.defaults import defaults_ensure
from rewards.rules.earning import rules_cache_clear


@pytest.fixture(autouse=True)
def _consent_defaults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Purposes come from a data migration that a transactional test's flush removes."""
    rules_cache_clear()
    if request.node.get_closest_marker("django_db") is not None:
        request.getfixturevalue("_django_db_helper")
        defaults_ensure(apps)
    yield
    rules_cache_clear()
