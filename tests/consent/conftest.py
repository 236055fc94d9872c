from __future__ import annotations

import pytest
from django.apps import apps

from consent.defaults import defaults_ensure


@pytest.fixture(autouse=True)
def _consent_defaults(request: pytest.FixtureRequest) -> None:
    """Purposes, interests and the first policy come from a data migration; a transactional
    test's flush removes them, so put them back for every database test here."""
    if request.node.get_closest_marker("django_db") is None:
        return
    request.getfixturevalue("_django_db_helper")
    defaults_ensure(apps)
