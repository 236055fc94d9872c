"""Everything the club imports at run time is installed by `make run`, which installs the
project without its dev extras: an import of a dev-only package would start the test
suite fine and then crash a newcomer's first `make run`."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
RUNTIME_CODE = ["config", "members", "consent", "rewards", "campaigns", "scripts", "manage.py"]
# Developer tools under scripts/ that `make` runs after installing the dev dependencies.
DEV_SCRIPTS = {"scripts/screenshots.py"}  # make screenshots: Playwright
FIRST_PARTY = {"config", "members", "consent", "rewards", "campaigns", "tests", "bench"}


def _name(requirement: str) -> tuple[str, set[str]]:
    """'celery[redis]>=5.4' -> ('celery', {'redis'})."""
    found = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(?:\[([^\]]*)\])?", requirement)
    assert found, requirement
    extras = {e.strip() for e in (found.group(2) or "").split(",") if e.strip()}
    return re.sub(r"[-_.]+", "-", found.group(1)).lower(), extras


def _installed_closure(requirements: list[str]) -> set[str]:
    """The distributions these requirements pull in, following markers for extras."""
    seen: set[str] = set()
    todo = [_name(r) for r in requirements]
    while todo:
        name, extras = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            spec, _, marker = requirement.partition(";")
            wanted = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", marker)
            if wanted and wanted.group(1) not in extras:
                continue
            todo.append(_name(spec))
    return seen


def _imports() -> dict[str, str]:
    """Top-level module imported -> one file importing it, over the run-time code."""
    found: dict[str, str] = {}
    for entry in RUNTIME_CODE:
        path = ROOT / entry
        files = [path] if path.is_file() else path.rglob("*.py")
        for file in files:
            if str(file.relative_to(ROOT)) in DEV_SCRIPTS:
                continue
            for node in ast.walk(ast.parse(file.read_text(), str(file))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(file.relative_to(ROOT)))
    return found


def test_runtime_imports_are_main_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    allowed = _installed_closure(project["dependencies"])
    distributions = metadata.packages_distributions()
    missing = {}
    for module, where in _imports().items():
        if module in sys.stdlib_module_names or module in FIRST_PARTY or module == "__future__":
            continue
        owners = {_name(d)[0] for d in distributions.get(module, [])}
        assert owners, f"{module} (imported in {where}) is not installed at all"
        if not owners & allowed:
            missing[module] = (where, sorted(owners))
    assert not missing, f"imported at run time but only a dev dependency: {missing}"
