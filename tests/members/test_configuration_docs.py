"""docs/configuration.md tells the truth: every variable the settings read is in its table,
and every default the table states is the default the settings use.

The settings modules are read as source (``env.<type>("NAME", default=...)`` calls), so a
default that only one environment uses (production, say) is checked without starting it."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)
SETTINGS_DIR = BASE_DIR / "config" / "settings"
DOC = BASE_DIR / "docs" / "configuration.md"
MODULES = ("base", "local", "test", "production")
REQUIRED = object()  # read with no default: start-up fails without the variable
UNKNOWN = object()  # a default computed at start-up (a path, an f-string): not compared
QUALIFIERS = {"local": "local", "test": "test", "tests": "test", "production": "production"}


@dataclass
class Documented:
    names: list[str]
    cell: str
    claims: dict[str, str | object] = field(default_factory=dict)  # "" key: every module


def _literal(node: ast.expr) -> object:
    try:
        return ast.literal_eval(node)
    except ValueError:
        return UNKNOWN


def settings_reads() -> dict[str, dict[str, object]]:
    """{variable: {module: default}} for every ``env.<type>("NAME", ...)`` in the settings."""
    reads: dict[str, dict[str, object]] = {}
    for module in MODULES:
        tree = ast.parse((SETTINGS_DIR / f"{module}.py").read_text())
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "env"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                continue
            default = next((kw.value for kw in node.keywords if kw.arg == "default"), None)
            value = REQUIRED if default is None else _literal(default)
            reads.setdefault(node.args[0].value, {})[module] = value
    return reads


def _claims(cell: str) -> dict[str, str | object]:
    """What a default cell states: its leading value (for every environment) and the values
    after ``local:``, ``test:``/``tests:`` and ``production:``."""
    claims: dict[str, str | object] = {}
    leading = re.match(r"\s*(?:`([^`]*)`|(empty)\b)", cell)
    if leading:
        claims[""] = leading.group(1) if leading.group(1) is not None else ""
    for match in re.finditer(
        r"\b(local|tests?|production):\s*(?:`([^`]*)`|(\*\*required\*\*)|(empty)\b)", cell
    ):
        qualifier, value, required, _empty = match.groups()
        claims[QUALIFIERS[qualifier]] = REQUIRED if required else value if value is not None else ""
    return claims


def documented() -> list[Documented]:
    text = DOC.read_text()
    section = text.split("## All variables", 1)[1]
    rows = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("| `") or len(cells) < 3:
            continue
        names = re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0])
        rows.append(Documented(names=names, cell=cells[1], claims=_claims(cells[1])))
    return rows


def _as_doc(value: object) -> str | object:
    """A settings default written the way the table writes it."""
    if value is REQUIRED or value is UNKNOWN:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return ",".join(f"{key}={item}" for key, item in value.items())
    return str(value)


def test_every_variable_the_settings_read_is_documented():
    names = {name for row in documented() for name in row.names}
    missing = sorted(set(settings_reads()) - names)
    assert not missing, f"read by config/settings but not in docs/configuration.md: {missing}"


def test_each_variable_is_documented_once():
    names = [name for row in documented() for name in row.names]
    twice = sorted({name for name in names if names.count(name) > 1})
    assert not twice, f"listed more than once in docs/configuration.md: {twice}"


def mismatches(rows: list[Documented], reads: dict[str, dict[str, object]]) -> tuple[list, int]:
    """Each documented default that differs from what a settings module reads, and how many
    defaults were compared (computed ones are not)."""
    wrong, compared = [], 0
    for row in rows:
        for name in row.names:
            for module, default in reads.get(name, {}).items():
                claim = row.claims.get(module, row.claims.get(""))
                actual = _as_doc(default)
                if claim is None or actual is UNKNOWN:
                    continue
                compared += 1
                if claim is REQUIRED or actual is REQUIRED:
                    if claim is not actual:
                        wrong.append(f"{name} ({module}): docs say {row.cell!r}")
                elif claim != actual:
                    wrong.append(f"{name} ({module}): docs say {claim!r}, settings {actual!r}")
    return wrong, compared


def test_documented_defaults_are_the_settings_defaults(capsys):
    wrong, compared = mismatches(documented(), settings_reads())
    assert not wrong, "docs/configuration.md disagrees with config/settings:\n" + "\n".join(wrong)
    assert compared >= 60, f"only {compared} defaults compared: is the table still parsed?"
    with capsys.disabled():
        print(f"\nconfiguration docs: {compared} documented defaults match the settings")


@pytest.mark.parametrize(
    ("cell", "claims"),
    [
        ("`5`", {"": "5"}),
        ("`0`; production: `1`", {"": "0", "production": "1"}),
        ("`kk` (tests: `kktest`)", {"": "kk", "test": "kktest"}),
        ("empty", {"": ""}),
        ("local: unset, meaning…; production: **required**", {"production": REQUIRED}),
    ],
)
def test_default_cells_are_read_as_written(cell, claims):
    assert _claims(cell) == claims


def test_a_wrong_default_in_the_docs_is_caught():
    """The comparison itself can fail: a documented 300 against the code's 360, a value
    documented as required that has a default, and a production-only override."""
    rows = [
        Documented(names=["A"], cell="`300`", claims=_claims("`300`")),
        Documented(
            names=["B"], cell="production: **required**", claims=_claims("production: **required**")
        ),
        Documented(
            names=["C"], cell="`0`; production: `1`", claims=_claims("`0`; production: `1`")
        ),
    ]
    reads: dict[str, dict[str, object]] = {
        "A": {"base": 360},
        "B": {"production": "x"},
        "C": {"base": 0, "production": 2},
    }
    wrong, compared = mismatches(rows, reads)
    assert compared == 4
    assert [line.split(" ")[0] for line in wrong] == ["A", "B", "C"]
