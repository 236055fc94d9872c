"""Production settings: refuse to start without secrets, pass ``check --deploy`` cleanly."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

BASE_DIR = Path(settings.BASE_DIR)


def _production_env(**overrides: str | None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_", "EMAIL_", "CELERY_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.production",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "klubben.example.se",
            "DATABASE_URL": "postgres://kundklubb:secret@db.internal:5432/kundklubb",
            "REDIS_URL": "redis://cache.internal:6379/0",
            "EMAIL_URL": "smtp+tls://mailer:secret@smtp.internal:587",
        }
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_check_deploy_reports_no_issue():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    "missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"]
)
def test_production_refuses_to_start_without_required_variable(missing):
    result = _manage("check", env=_production_env(**{missing: None}))

    assert result.returncode != 0
    assert f"Set the {missing} environment variable" in result.stderr


def test_production_short_secret_key_fails_check_deploy():
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env=_production_env(DJANGO_SECRET_KEY="too-short"),
    )
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


@pytest.mark.parametrize("value", ["ture", "maybe", "2"])
def test_booleans_parse_strictly(value):
    result = _manage("check", env=_production_env(DJANGO_SECURE_SSL_REDIRECT=value))

    assert result.returncode != 0
    assert "DJANGO_SECURE_SSL_REDIRECT must be one of" in result.stderr


def test_env_bool_accepts_the_usual_spellings(monkeypatch):
    from config.settings.environment import Env

    env = Env()
    for raw, expected in [("true", True), ("Yes", True), ("1", True), ("off", False), ("0", False)]:
        monkeypatch.setenv("KK_FLAG", raw)
        assert env.bool("KK_FLAG", default=None) is expected
    monkeypatch.delenv("KK_FLAG")
    assert env.bool("KK_FLAG", default=True) is True
