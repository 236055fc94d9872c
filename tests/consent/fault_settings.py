"""Settings of the worker a privacy fault test starts: the test settings, with mail written
to files (``KK_FAULT_MAIL_DIR``) so the test can count what the worker sent."""

from __future__ import annotations

import os

from config.settings.test import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ.get("KK_FAULT_MAIL_DIR", "/tmp/kk-fault-mail")  # noqa: S108
