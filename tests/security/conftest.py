"""The authorization matrix reports how many cells it checked in pytest's summary."""

from __future__ import annotations

import pytest

MATRIX_CELLS = pytest.StashKey[dict[str, int]]()


@pytest.fixture
def matrix_cells(request: pytest.FixtureRequest) -> dict[str, int]:
    """Cells checked per part of the matrix (api, member pages, back-office), for the summary."""
    return request.config.stash.setdefault(MATRIX_CELLS, {})


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    cells = config.stash.get(MATRIX_CELLS, {})
    if cells:
        parts = ", ".join(f"{part} {n}" for part, n in sorted(cells.items()))
        terminalreporter.write_line(
            f"authorization matrix: {sum(cells.values())} cells checked ({parts})"
        )
