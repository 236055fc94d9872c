from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.processes import bench_redis_url


@pytest.fixture
def bench_redis() -> Iterator[str]:
    """The benchmark's own Redis database, empty before and after (tests.processes)."""
    with bench_redis_url() as url:
        yield url
