"""The lock files (requirements/run.txt, requirements/dev.txt) stay in step with
pyproject.toml: every dependency pyproject names is pinned to one exact version that its range
allows, the two files agree on every package they share, and this suite runs on exactly the
dev lock's versions. After changing a dependency: `make lock` (docs/deploy.md, step 3)."""

from __future__ import annotations

import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _lock(name: str) -> dict[str, tuple[Version, Marker | None]]:
    """``package -> (version, marker)`` for each ``name==version [; marker]`` line."""
    pins: dict[str, tuple[Version, Marker | None]] = {}
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        assert not line.startswith("-"), f"{name}: options are not expected: {line}"
        requirement = Requirement(line)
        specs = list(requirement.specifier)
        assert len(specs) == 1, f"{name}: not pinned: {line}"
        assert specs[0].operator == "==", f"{name}: not pinned: {line}"
        pins[canonicalize_name(requirement.name)] = (
            Version(specs[0].version),
            requirement.marker,
        )
    return pins


def _assert_pinned(requirements: list[str], pins: dict, lock: str) -> None:  # type: ignore[type-arg]
    for text in requirements:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is in pyproject.toml but not in {lock}"
        version, _marker = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock} pins {name}=={version}, outside pyproject.toml's {requirement.specifier}"
        )


def test_every_runtime_dependency_is_pinned_in_both_locks_within_its_range() -> None:
    dependencies = _pyproject()["project"]["dependencies"]
    _assert_pinned(dependencies, _lock("run.txt"), "requirements/run.txt")
    _assert_pinned(dependencies, _lock("dev.txt"), "requirements/dev.txt")


def test_every_dev_dependency_is_pinned_in_the_dev_lock_within_its_range() -> None:
    dev = _pyproject()["project"]["optional-dependencies"]["dev"]
    _assert_pinned(dev, _lock("dev.txt"), "requirements/dev.txt")


def test_the_two_locks_agree_on_every_package_they_share() -> None:
    run, dev = _lock("run.txt"), _lock("dev.txt")
    assert set(run) <= set(dev), "requirements/dev.txt lacks packages of run.txt"
    differ = {name: (run[name][0], dev[name][0]) for name in run if run[name][0] != dev[name][0]}
    assert not differ, f"run.txt and dev.txt pin different versions: {differ}"


def test_the_broker_stack_is_pinned() -> None:
    """The broker-restart behaviour (docs/campaigns.md) was measured on these pins."""
    run = _lock("run.txt")
    for name in ("celery", "kombu", "redis", "django-celery-beat", "billiard", "amqp", "vine"):
        assert name in run, f"{name} is not pinned in requirements/run.txt"


@pytest.mark.parametrize("lock", ["dev.txt"])
def test_this_environment_runs_the_locked_versions(lock: str) -> None:
    """`make test` installs requirements/dev.txt: what the suite runs on is the lock."""
    wrong = {}
    for name, (version, marker) in _lock(lock).items():
        if marker is not None and not marker.evaluate():
            continue
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            wrong[name] = (str(version), None)
            continue
        if installed != version:
            wrong[name] = (str(version), str(installed))
    assert not wrong, f"installed versions differ from requirements/{lock} (run make test): {wrong}"
