"""The layout holds (docs/architecture.md): the import contracts in pyproject.toml pass, a
wrong import breaks them, and no module imports another module's private names."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = ("members", "consent", "rewards", "campaigns")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _app_sources(into: Path) -> None:
    """A copy of the apps' Python files (what the contracts read), without migrations."""
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            target = into / path.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def test_import_contracts_kept():
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_lower_app_importing_a_higher_one_breaks_the_contract(tmp_path):
    _app_sources(tmp_path)
    (tmp_path / "members" / "wrong.py").write_text("from campaigns.models import Campaign\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "members.wrong -> campaigns.models" in result.stdout


def test_a_read_importing_a_write_breaks_the_contract(tmp_path):
    _app_sources(tmp_path)
    selectors = tmp_path / "rewards" / "selectors.py"
    selectors.write_text(selectors.read_text() + "\nfrom rewards.ledger import points\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "rewards.selectors is not allowed to import rewards.ledger.points" in result.stdout


def test_no_module_imports_another_modules_private_names():
    found = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if not isinstance(node, ast.ImportFrom) or not node.module:
                    continue
                if node.module.split(".")[0] not in APPS:
                    continue
                found += [
                    f"{path.relative_to(ROOT)}: from {node.module} import {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    assert found == []
