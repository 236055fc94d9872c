"""Browser journeys: Playwright (sync API) driving Debian's Chromium, headless.

A pytest plugin (``tests/conftest.py`` loads it), so every test folder has these fixtures.

One browser for the whole session; each test gets a fresh context (cookies, storage) with a
phone-sized viewport. The site runs in-process (pytest-django's ``live_server``), so eager
Celery and the locmem mailbox (``django.core.mail.outbox``) work as in any other test.
"""

from __future__ import annotations

import atexit
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
PHONE_VIEWPORT = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000


_shared: dict[str, Any] = {}


def shared_browser() -> Any:
    """Start Playwright and Chromium on first use; every later browser test reuses them
    (Playwright's sync API cannot run twice in one thread). Stopped when the run ends."""
    if "browser" not in _shared:
        if not Path(CHROMIUM).exists():
            pytest.fail(f"{CHROMIUM} is missing: install Debian's 'chromium' (make test does).")
        from playwright.sync_api import sync_playwright

        # Playwright's sync API keeps an event loop registered on this thread; the test
        # bodies' ORM calls are still plain synchronous code, so Django's async-safety guard
        # must not refuse them.
        _shared["async_unsafe"] = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        playwright = sync_playwright().start()
        _shared["playwright"] = playwright
        _shared["browser"] = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        atexit.register(shared_browser_stop)
    return _shared["browser"]


def shared_browser_stop() -> None:
    """Close the shared Chromium and Playwright, if running; the next use starts them again."""
    if "browser" not in _shared:
        return
    _shared.pop("browser").close()
    _shared.pop("playwright").stop()
    previous = _shared.pop("async_unsafe", None)
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def browser() -> Any:
    """The headless Chromium shared by the browser tests (started once, see above)."""
    return shared_browser()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open pages in fresh browser contexts: ``new_page(locale="sv-SE", viewport=...)``.

    Defaults to a phone (390x844, touch). Contexts are closed after the test.
    """
    contexts: list[Any] = []

    def _new_page(*, locale: str = "sv-SE", viewport: dict[str, int] | None = None) -> Any:
        context = browser.new_context(
            viewport=viewport or PHONE_VIEWPORT,
            device_scale_factor=2,
            is_mobile=viewport is None,
            has_touch=viewport is None,
            locale=locale,
            service_workers="block",
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield _new_page
    for context in contexts:
        context.close()


@pytest.fixture
def phone_page(new_page: Callable[..., Any]) -> Any:
    """A Swedish phone-sized page."""
    return new_page()


def mail_link(message: Any, pattern: str = r"https?://\S+/konto/confirm-email/\S+") -> str:
    """The first link in an email body that matches ``pattern``."""
    match = re.search(pattern, message.body)
    assert match, f"no link matching {pattern} in: {message.body}"
    return match.group(0)


@pytest.fixture
def celery_worker_process() -> Iterator[None]:
    """A real Celery worker on this test's database and broker; tasks go to it, not eager
    (the door's offer, the back-office import's progress)."""
    from django.conf import settings

    from bench.fanout import worker_name, worker_start, worker_stop, worker_wait_ready
    from config.celery import app
    from tests.processes import test_database_url

    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": test_database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }
    )
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    name = worker_name()
    worker = worker_start(env, 1, name=name)
    try:
        worker_wait_ready(app, name)
        yield
    finally:
        worker_stop(worker)
        app.conf.task_always_eager = eager
        app.control.purge()
