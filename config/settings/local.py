"""Development settings: `make run` on a laptop, no servers needed."""

from config.embedded_db import settings_for

from .base import *  # noqa: F403
from .base import PRIVATE_ROOT, VAR_DIR, database_tune, env

# DATABASE_URL points at any PostgreSQL; without it, the embedded server under var/ that
# `make run` starts (config/embedded_db.py).
DATABASES = {
    "default": env.db("DATABASE_URL") if "DATABASE_URL" in env.ENVIRON else settings_for(VAR_DIR)
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
database_tune(DATABASES["default"])
# Links in mails: `make run` sets SITE_URL from the port it serves on (scripts/run.py).
SITE_URL = env.str("SITE_URL", default=f"http://127.0.0.1:{env.int('PORT', default=8000)}")

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY", default="local-development-only-not-secret-kundklubb-0123456789abcdef"
)
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
EMAIL_BACKEND = env.str(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
)

# Serve static files straight from static/ (no collectstatic needed outside production).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
