"""Test settings: real PostgreSQL and Redis on loopback, overridable by environment."""

import os

from .base import *  # noqa: F403
from .base import database_tune, env

DEBUG = False
SECRET_KEY = "test-only-secret-key-kundklubb-0123456789abcdefghijklmnopqrstuvwxyz"  # noqa: S105
DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/kundklubb"),
}
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["ATOMIC_REQUESTS"] = False
database_tune(DATABASES["default"])  # as in production: prepared statements
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/1")
# `make test` runs the suite in two pytest-xdist workers (gw0, gw1), each with its own test
# database (pytest-django's test_<name>_gw1); the second also gets its own Redis database,
# cache prefix and folders. Written back to the environment, so a worker or server a test
# starts inherits the same ones (and does not shift them again).
_XDIST_WORKER = env.str("PYTEST_XDIST_WORKER", default="")
if _XDIST_WORKER not in ("", "gw0") and not env.bool("KK_XDIST_SHIFTED", default=False):
    _index = int(_XDIST_WORKER.removeprefix("gw"))
    _base, _, _db = REDIS_URL.rpartition("/")
    REDIS_URL = f"{_base}/{(int(_db or 0) + 8 * _index) % 16}"
    os.environ["REDIS_URL"] = REDIS_URL
    _prefix = env.str("CACHE_KEY_PREFIX", default="kktest")
    os.environ["CACHE_KEY_PREFIX"] = f"{_prefix}_{_XDIST_WORKER}"
    for _name, _default in (
        ("PRIVATE_ROOT", "/tmp/kundklubb-test-private"),  # noqa: S108
        ("MEDIA_ROOT", "/tmp/kundklubb-test-media"),  # noqa: S108
    ):
        os.environ[_name] = f"{env.str(_name, default=_default)}-{_XDIST_WORKER}"
    os.environ["KK_XDIST_SHIFTED"] = "1"
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="kktest"),
    }
}
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
# Most tests run tasks in-process; tests about delivery semantics start a real worker, which
# they run with CELERY_TASK_ALWAYS_EAGER=false in its environment (the campaigns fault test).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_TASK_EAGER_PROPAGATES = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
PRIVATE_ROOT = env.path("PRIVATE_ROOT", default="/tmp/kundklubb-test-private")  # noqa: S108
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": PRIVATE_ROOT,
            "directory_permissions_mode": 0o700,
            "file_permissions_mode": 0o600,
        },
    },
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default="/tmp/kundklubb-test-media")  # noqa: S108
LOGGING = {"version": 1, "disable_existing_loggers": False}

# Serve static files straight from static/ (no collectstatic needed outside production).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

# Webhook tests run a real receiver on 127.0.0.1 over http (docs/webhooks.md "Security");
# the tests of refusals set it back to False.
WEBHOOKS_ALLOW_LOOPBACK = True
