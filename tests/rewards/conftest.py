from __future__ import annotations

from collections.abc import Iterator

import pytest

from rewards.rules.earning import rules_cache_clear


@pytest.fixture(autouse=True)
def _fresh_rules() -> Iterator[None]:
    """Earning rules are cached per process; every test starts from its own rules."""
    rules_cache_clear()
    yield
    rules_cache_clear()
