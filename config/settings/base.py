"""Settings shared by every environment.

Every value that differs between machines comes from the environment through one
``environ.Env``; production differs from this file only through environment variables.
"""

import datetime
from pathlib import Path
from typing import Any

from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _
from kombu import Queue

from config.settings.environment import Env

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = Env()
Env.read_env(BASE_DIR / ".env", overwrite=False)
# Run-time files of `make run`: the embedded PostgreSQL, the filesystem broker, exports.
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var"))).resolve()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# SECRET_KEY: each environment sets it; production requires it from the environment.
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://localhost:8000")

# --- Applications -----------------------------------------------------------------------
DJANGO_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
]
THIRD_PARTY_APPS = [
    "allauth",
    "allauth.account",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "config.apps.SchedulingConfig",  # django_celery_beat, under a plain heading
    "csp",
    "axes",
]
# Order matters only for template overrides; dependencies run members <- consent <- rewards
# <- campaigns (docs/architecture.md).
LOCAL_APPS = [
    "members",
    "consent",
    "rewards",
    "campaigns",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "members.middleware.RejectNulMiddleware",  # NUL in path, query or form: 400
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's, with the member loaded alongside the user (members.auth).
    "members.auth.AuthenticationMiddleware",
    "members.middleware.NoStoreMiddleware",  # member pages and API answers: no-store
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Last: turns a login refused by django-axes into the lockout page (docs/security.md).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "members.context_processors.member",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------
# PostgreSQL everywhere, one engine: each environment module sets DATABASES (local: the
# embedded server under var/ unless DATABASE_URL is set; test and production: DATABASE_URL).
# Services own their transactions, so ATOMIC_REQUESTS stays off.


def database_tune(database: dict[str, Any]) -> None:
    """PostgreSQL: the project's backend (``config.db.postgresql``: ``__in`` lists as one
    array parameter, bulk batches within PostgreSQL's 65,535 parameters per statement) and
    server-side parameter binding, so psycopg prepares a query after its 5th run on a
    connection and PostgreSQL stops parsing and planning the hot statements anew (about
    0.8 ms of its CPU per API purchase, docs/benchmarks.md "Earn"). Tests run with both.
    ``DB_PREPARED_STATEMENTS=false`` turns binding off, e.g. behind a transaction-mode pooler
    that cannot keep prepared statements (PgBouncer before 1.21); the backend stays."""
    if "postgresql" not in database["ENGINE"]:
        return
    if database["ENGINE"] == "django.db.backends.postgresql":
        database["ENGINE"] = "config.db.postgresql"
    if env.bool("DB_PREPARED_STATEMENTS", default=True):
        database.setdefault("OPTIONS", {}).update(
            {"server_side_binding": True, "prepare_threshold": 5}
        )


DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (allauth and API rate limits live here) -----------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="kk"),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -------------------------------------------------------------------------------
AUTH_USER_MODEL = "members.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out account+client before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    # Django's and allauth's, loading a session's user with its member in one query.
    "members.auth.ModelBackend",
    "members.auth.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "members:home"

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_UNIQUE_EMAIL = True
# Password reset and sign-up never tell whether an address is registered: both answer as for
# a new address, and allauth mails the existing account instead (docs/security.md).
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_FORMS = {"signup": "consent.forms.ConsentSignupForm"}  # members form + consent choices
ACCOUNT_ADAPTER = "members.adapters.AccountAdapter"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "Kundklubb: "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = env.str("ACCOUNT_DEFAULT_HTTP_PROTOCOL", default="http")
# Counted per client address (TRUSTED_PROXY_COUNT below, never the proxy's) and per account.
# The tight lock is django-axes' (AXES_* below), per account+client; the per-account limit
# here is the backstop against one account tried from many addresses. The back-office
# login goes through the same limits (members.admin_auth).
ACCOUNT_RATE_LIMITS = {
    "login_failed": "30/m/ip,20/h/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
}

# --- Login protection and the client address (docs/security.md) ---------------------------
# How many proxies of ours stand in front of the web servers, each appending to
# X-Forwarded-For: the client is the address that many entries from the right. 0 (no proxy):
# REMOTE_ADDR. Or the header a trusted proxy puts the client address in (X-Real-IP,
# CF-Connecting-IP), which wins. allauth's rate limits and django-axes read the same value.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
TRUSTED_CLIENT_IP_HEADER = env.str("TRUSTED_CLIENT_IP_HEADER", default="") or None
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = TRUSTED_CLIENT_IP_HEADER
# django-axes: LOGIN_FAILURE_LIMIT wrong passwords for one account from one client lock that
# combination (admin and member log-in alike) for LOGIN_LOCKOUT_MINUTES, even with the right
# password; the account still logs in from any other client, and a success resets the count.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "members.security.client_ip"
AXES_USERNAME_CALLABLE = "members.security.login_username"
AXES_LOCKOUT_TEMPLATE = "account/login_locked.html"
AXES_HTTP_RESPONSE_CODE = 429
# Successful logins are not logged with their IP address (personal data with no purpose here);
# failed attempts are kept per account+client until the cool-off ends.
AXES_DISABLE_ACCESS_LOG = True
MEMBER_MINIMUM_AGE = env.int("MEMBER_MINIMUM_AGE", default=16)

# --- Consent and privacy (docs/privacy.md) ------------------------------------------------
CONSENT_PAUSE_DAYS = env.int("CONSENT_PAUSE_DAYS", default=30)
CONSENT_UNSUBSCRIBE_MAX_AGE_DAYS = env.int("CONSENT_UNSUBSCRIBE_MAX_AGE_DAYS", default=400)
PRIVACY_ERASURE_GRACE_DAYS = env.int("PRIVACY_ERASURE_GRACE_DAYS", default=14)
PRIVACY_EXPORT_TTL_DAYS = env.int("PRIVACY_EXPORT_TTL_DAYS", default=7)
# Back-office imports (members.import_jobs, docs/import.md): the largest upload, how many
# report lines a job keeps, when a running job without progress counts as interrupted, and
# how long jobs (their reports quote the file's values) are kept.
IMPORT_UPLOAD_MAX_BYTES = env.int("IMPORT_UPLOAD_MAX_BYTES", default=100_000_000)
IMPORT_REPORT_LINES = env.int("IMPORT_REPORT_LINES", default=1000)
IMPORT_JOB_STALE_SECONDS = env.int("IMPORT_JOB_STALE_SECONDS", default=600)
IMPORT_JOB_RETENTION_DAYS = env.int("IMPORT_JOB_RETENTION_DAYS", default=30)
PRIVACY_INACTIVITY_MONTHS = env.int("PRIVACY_INACTIVITY_MONTHS", default=36)
PRIVACY_ACCESS_LOG_RETENTION_DAYS = env.int("PRIVACY_ACCESS_LOG_RETENTION_DAYS", default=730)
# An export build holds a lease the worker renews every quarter of it; once it runs out the
# worker is presumed dead and the sweep (beat, every minute) builds again.
PRIVACY_EXPORT_LEASE_SECONDS = env.int("PRIVACY_EXPORT_LEASE_SECONDS", default=120)
# Export archives go to the "private" storage (STORAGES below): never under MEDIA_ROOT or any
# served URL; downloads stream through a view that checks login and ownership. With several
# web and worker machines, PRIVATE_ROOT must be a volume they share (or swap the backend for
# an object store).
PRIVATE_ROOT = env.path("PRIVATE_ROOT", default=str(VAR_DIR / "private"))

# --- I18N -------------------------------------------------------------------------------
LANGUAGE_CODE = "sv"
LANGUAGES = [("sv", _("Swedish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
TIME_ZONE = "Europe/Stockholm"
USE_I18N = True
USE_TZ = True
# English as written in Sweden ("5 December 2026 14:05"): config/formats/en/formats.py.
FORMAT_MODULE_PATH = ["config.formats"]
PHONE_DEFAULT_REGION = "SE"

# --- Static files -----------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
# Pictures staff upload (docs/pictures.md), served from MEDIA_URL + "pictures/" by
# members.pictures.views (WhiteNoise serves static files only). With several web machines,
# MEDIA_ROOT is a volume they share, or the default storage an object store behind this host.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
PICTURE_MAX_BYTES = env.int("PICTURE_MAX_BYTES", default=10_000_000)
PICTURE_MAX_PIXELS = env.int("PICTURE_MAX_PIXELS", default=40_000_000)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": PRIVATE_ROOT,
            "directory_permissions_mode": 0o700,
            "file_permissions_mode": 0o600,
        },
    },
}

# --- Email ------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Kundklubb <klubben@example.com>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Security defaults (production tightens through env) ----------------------------------
SESSION_COOKIE_HTTPONLY = True
# Sessions live in the database (erasure deletes a member's sessions there: consent.privacy);
# the cookie holds only their key. Flash messages are kept there too, not in Django's default
# signed-but-readable cookie: allauth's "Confirmation email sent to <address>" put the address
# in base64 in a cookie (docs/configuration.md "Caching and cookies"). members.sessions is
# Django's database backend reading a session with one plain statement instead of the ORM
# (docs/benchmarks.md "Member pages"); not cached_db: PostgreSQL stays the only copy.
SESSION_ENGINE = "members.sessions"
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Every script, style and font is served from our own origin: nothing from the internet.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "manifest-src": [SELF],
        "worker-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    },
}

# --- REST framework ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "members.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "members.api.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["members.api.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "members.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["members.api.throttling.ApiClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "api_client": env.str("API_RATE_LIMIT", default="6000/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
API_MAX_JSON_DEPTH = 16  # no API body needs more than a few levels (members.api.parsers)
SPECTACULAR_SETTINGS = {
    "TITLE": "Kundklubb API",
    "DESCRIPTION": (
        "REST API for tills, the web shop and the member pages. Integrations authenticate "
        "with `Authorization: Api-Key <key>`; each key belongs to one store and has scopes."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Celery -----------------------------------------------------------------------------
# Without a broker URL, kombu's filesystem transport under var/ lets a real worker and beat
# run with no server at all (make run). Tests and production use Redis.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # worker remote control (Ctrl-C, ping)
        "store_processed": False,
    }
else:
    # Redis redelivers unacknowledged (acks_late) tasks after this long; far-future work lives
    # in the database and is picked up by beat, never by long ETAs.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Broker away (a Redis restart): workers and beat keep retrying, forever, also at start-up.
# Running tasks are not cancelled when the connection drops: they finish and mark their rows
# (cancelling one would leave its claimed rows to the 360 s stuck limit); what the restart
# lost is queued again by the sweeper (docs/campaigns.md, "After a broker restart").
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_ALWAYS_EAGER = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The default beat entries; django-celery-beat copies them into the database where staff
# can edit them in admin. Each app adds its own jobs below.
CELERY_BEAT_SCHEDULE = {
    "members-activity-sweep": {
        "task": "members.tasks.activity_sweep",
        "schedule": crontab(minute="*/5"),
    },
    "consent-erasures-due": {
        "task": "consent.tasks.privacy_erasures_run_due",
        "schedule": crontab(minute="*"),
    },
    "consent-retention-nightly": {
        "task": "consent.tasks.privacy_retention_run",
        "schedule": crontab(hour=3, minute=30),
    },
    # Duplicates (docs/duplicates.md): every member compared with every other, by blocks.
    "members-duplicates-nightly": {
        "task": "members.tasks.duplicates_scan",
        "schedule": crontab(hour=1, minute=40),
    },
    "rewards-points-mature": {
        "task": "rewards.tasks.points_mature_due",
        "schedule": crontab(minute="*/15"),
    },
    "rewards-points-expire": {
        "task": "rewards.tasks.points_expire_due",
        "schedule": crontab(hour=3, minute=10),
    },
    "rewards-reservations-timeout": {
        "task": "rewards.tasks.reservations_timeout",
        "schedule": crontab(minute="*"),
    },
    "rewards-birthdays": {
        "task": "rewards.tasks.birthday_points_award",
        "schedule": crontab(hour=6, minute=0),
    },
    "rewards-tiers-nightly": {
        "task": "rewards.tasks.tiers_reevaluate",
        "schedule": crontab(hour=2, minute=15),
    },
    # Personalisation (docs/personalisation.md): affinities and next best offers, nightly.
    "campaigns-personalisation-nightly": {
        "task": "campaigns.personalisation_tasks.personalisation_nightly",
        "schedule": crontab(hour=2, minute=40),
    },
    # Campaigns (docs/campaigns.md): start due campaigns, re-queue lost or stuck deliveries
    # (every CAMPAIGNS_SWEEP_SECONDS: work a broker restart lost is queued again that soon),
    # and fire the daily triggers (birthday, lapsed, points about to expire).
    "campaigns-due": {
        "task": "campaigns.tasks.campaigns_start_due",
        "schedule": datetime.timedelta(seconds=env.int("CAMPAIGNS_SWEEP_SECONDS", default=15)),
    },
    "campaigns-sweep": {
        "task": "campaigns.tasks.deliveries_sweep",
        "schedule": datetime.timedelta(seconds=env.int("CAMPAIGNS_SWEEP_SECONDS", default=15)),
    },
    "campaigns-daily-triggers": {
        "task": "campaigns.tasks.triggers_daily",
        "schedule": crontab(hour=9, minute=0),
    },
    # The data-quality page's trend (docs/data-quality.md): the day's counts, 90 days kept.
    "campaigns-data-quality-snapshot": {
        "task": "campaigns.tasks.data_quality_snapshot",
        "schedule": crontab(hour=4, minute=15),
    },
}

# --- Webhooks (docs/webhooks.md) ------------------------------------------------------------
# Loopback receivers over plain http: tests only (config/settings/test.py). Everywhere else a
# webhook URL must be https and resolve to public addresses only, when saved and when sent.
WEBHOOKS_ALLOW_LOOPBACK = False
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=5)
# Seconds before each retry (after attempt 1, 2, ...): 8 attempts over about 27 hours.
WEBHOOKS_RETRY_SCHEDULE = env.list(
    "WEBHOOKS_RETRY_SCHEDULE", cast=float, default=[5, 300, 1800, 7200, 18000, 36000, 36000]
)
WEBHOOKS_RETRY_JITTER = env.float("WEBHOOKS_RETRY_JITTER", default=0.2)  # +-20 %
# Deliveries given up (every retry failed) in a row before the endpoint is disabled.
WEBHOOKS_DISABLE_AFTER = env.int("WEBHOOKS_DISABLE_AFTER", default=5)
WEBHOOKS_BATCH_SIZE = env.int("WEBHOOKS_BATCH_SIZE", default=50)
# Send tasks started at once per endpoint for a large fan-out (each claims its own batches).
WEBHOOKS_PARALLEL_SENDS = env.int("WEBHOOKS_PARALLEL_SENDS", default=4)
# A claimed batch is another worker's again after this long (its worker was killed).
WEBHOOKS_LEASE_SECONDS = env.float("WEBHOOKS_LEASE_SECONDS", default=600)
WEBHOOKS_SWEEP_SECONDS = env.float("WEBHOOKS_SWEEP_SECONDS", default=15)
WEBHOOKS_SWEEP_WINDOW_HOURS = env.int("WEBHOOKS_SWEEP_WINDOW_HOURS", default=6)
# Retries due sooner than this are queued with a countdown too; later ones only by the sweep.
WEBHOOKS_COUNTDOWN_MAX_SECONDS = env.float("WEBHOOKS_COUNTDOWN_MAX_SECONDS", default=60)
WEBHOOKS_ROTATION_OVERLAP_HOURS = env.int("WEBHOOKS_ROTATION_OVERLAP_HOURS", default=24)
CELERY_BEAT_SCHEDULE["consent-webhooks-sweep"] = {
    "task": "consent.webhooks.tasks.webhooks_sweep_task",
    "schedule": datetime.timedelta(seconds=WEBHOOKS_SWEEP_SECONDS),
}

# The outbox of events (members.outbox, docs/webhooks.md "Retention"): events (and their
# delivery log) are kept this many days; the feed's positions are given every minute too.
WEBHOOKS_OUTBOX_KEEP_DAYS = env.int("WEBHOOKS_OUTBOX_KEEP_DAYS", default=30)
CELERY_BEAT_SCHEDULE["members-outbox-sequence"] = {
    "task": "members.tasks.outbox_sequence",
    "schedule": crontab(minute="*"),
}
CELERY_BEAT_SCHEDULE["members-outbox-purge"] = {
    "task": "members.tasks.outbox_purge",
    "schedule": crontab(hour=4, minute=45),
}

# --- The staff desk (docs/desk.md) ----------------------------------------------------------
# How often the desk's "Arrived today" list is asked for again while the page is open.
DESK_ARRIVALS_REFRESH_SECONDS = env.int("DESK_ARRIVALS_REFRESH_SECONDS", default=10)
# Door posters: scans by one member in one minute beyond this are refused (429).
DOOR_SCANS_PER_MINUTE = env.int("DOOR_SCANS_PER_MINUTE", default=5)

# --- Rewards (points ledger) ---------------------------------------------------------------
# Points from a purchase stay pending this many days (the return window) before they can be
# spent; a return inside the window cancels them.
REWARDS_PENDING_DAYS = env.int("REWARDS_PENDING_DAYS", default=14)
# Lot expiry: "months" (REWARDS_EXPIRY_MONTHS after earning) or "end_of_following_year".
REWARDS_EXPIRY_MODE = env.str("REWARDS_EXPIRY_MODE", default="months")
REWARDS_EXPIRY_MONTHS = env.int("REWARDS_EXPIRY_MONTHS", default=24)
REWARDS_RESERVATION_SECONDS = env.int("REWARDS_RESERVATION_SECONDS", default=900)
REWARDS_CLAIM_DAYS = env.int("REWARDS_CLAIM_DAYS", default=30)
# A forgot-card claim is proven by the receipt's amount: this many wrong claims by one member,
# or for one receipt by anyone, pause claiming for the minutes below (docs/security.md).
REWARDS_CLAIM_MAX_FAILURES = env.int("REWARDS_CLAIM_MAX_FAILURES", default=5)
REWARDS_CLAIM_LOCK_MINUTES = env.int("REWARDS_CLAIM_LOCK_MINUTES", default=60)
# What one point is worth to the member, in öre (for the liability on the summary page).
REWARDS_POINT_VALUE_ORE = env.int("REWARDS_POINT_VALUE_ORE", default=1)
# Earning rules are cached per process this many seconds (edits apply within that time).
REWARDS_RULES_CACHE_SECONDS = env.int("REWARDS_RULES_CACHE_SECONDS", default=5)
# Tiers (docs/rewards.md): qualify on points "earned" or on "spend" over a rolling window;
# a member below their tier's threshold keeps it this many days before the nightly downgrade.
REWARDS_TIER_BASIS = env.str("REWARDS_TIER_BASIS", default="earned")
REWARDS_TIER_WINDOW_DAYS = env.int("REWARDS_TIER_WINDOW_DAYS", default=365)
REWARDS_TIER_GRACE_DAYS = env.int("REWARDS_TIER_GRACE_DAYS", default=60)
# Referrals: a friend may enter a member's code this many days after joining.
REWARDS_REFERRAL_JOIN_DAYS = env.int("REWARDS_REFERRAL_JOIN_DAYS", default=30)

# --- Campaigns (docs/campaigns.md) ----------------------------------------------------------
# The club's cap on marketing messages per member and week, across every channel; a member's
# own lower limit (preference centre) wins.
CAMPAIGNS_MAX_MESSAGES_PER_WEEK = env.int("CAMPAIGNS_MAX_MESSAGES_PER_WEEK", default=3)
# Members per fan-out task (one id range each) and deliveries per send task.
CAMPAIGNS_FANOUT_CHUNK = env.int("CAMPAIGNS_FANOUT_CHUNK", default=10000)
CAMPAIGNS_SEND_BATCH = env.int("CAMPAIGNS_SEND_BATCH", default=250)
# A delivery still "sending" (or a queued one still "pending") this long after its claim is
# presumed lost with its worker and is re-queued by the sweeper. Keep it above
# CELERY_TASK_TIME_LIMIT: no live task holds a claim longer than that.
CAMPAIGNS_STUCK_SECONDS = env.int("CAMPAIGNS_STUCK_SECONDS", default=360)
CAMPAIGNS_MAX_ATTEMPTS = env.int("CAMPAIGNS_MAX_ATTEMPTS", default=6)
# Fan-out chunks and send batches go to a queue of their own, so that a worker of its own can
# run them beside the tills without starving them (docs/deploy.md, "Celery workers";
# docs/benchmarks.md, "Mixed"). A worker started without -Q consumes both queues, as before;
# a worker consuming only this queue lowers its own CPU priority to CAMPAIGNS_WORKER_NICE
# (config/celery.py), so a campaign uses the CPU the tills leave.
CAMPAIGNS_QUEUE = env.str("CAMPAIGNS_QUEUE", default="campaigns")
CAMPAIGNS_WORKER_NICE = env.int("CAMPAIGNS_WORKER_NICE", default=10)
# ... and rests this many times as long as each fan-out chunk or send batch took (0: never),
# so that its bulk statements leave the database to the tills between batches
# (campaigns.tasks.campaigns_rest).
CAMPAIGNS_SEND_PACE = env.float("CAMPAIGNS_SEND_PACE", default=1.0)
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue(CELERY_TASK_DEFAULT_QUEUE), Queue(CAMPAIGNS_QUEUE))
CELERY_TASK_ROUTES = {
    "campaigns.tasks.fanout_chunk": {"queue": CAMPAIGNS_QUEUE},
    "campaigns.tasks.deliveries_send": {"queue": CAMPAIGNS_QUEUE},
}
# SMS: "console" (development: logged, not sent) or "46elks" (https://46elks.se/docs/send-sms).
CAMPAIGNS_SMS_BACKEND = env.str("CAMPAIGNS_SMS_BACKEND", default="console")
CAMPAIGNS_SMS_API_URL = env.str("CAMPAIGNS_SMS_API_URL", default="https://api.46elks.com")
CAMPAIGNS_SMS_USERNAME = env.str("CAMPAIGNS_SMS_USERNAME", default="")
CAMPAIGNS_SMS_PASSWORD = env.str("CAMPAIGNS_SMS_PASSWORD", default="")
CAMPAIGNS_SMS_FROM = env.str("CAMPAIGNS_SMS_FROM", default="Kundklubb")
CAMPAIGNS_SMS_TIMEOUT_SECONDS = env.float("CAMPAIGNS_SMS_TIMEOUT_SECONDS", default=10.0)

# --- Personalisation and results (docs/personalisation.md) ------------------------------
# Only <app>.tasks modules are autodiscovered; the nightly personalisation task lives in its
# package (campaigns/personalisation/tasks.py, task name unchanged).
CELERY_IMPORTS = ["campaigns.personalisation.tasks"]
# Purchases this many days back feed affinities and recommendations.
PERSONALISATION_WINDOW_DAYS = env.int("PERSONALISATION_WINDOW_DAYS", default=365)
# A pair must occur in at least this many purchases (or member histories), and in at least
# this share of them, to become an affinity. 2 lets "jeans -> shirt" show up in small data.
PERSONALISATION_MIN_PAIR_COUNT = env.int("PERSONALISATION_MIN_PAIR_COUNT", default=2)
PERSONALISATION_MIN_SUPPORT = env.float("PERSONALISATION_MIN_SUPPORT", default=0.0)
# Baskets with more distinct items than this (bulk buys) are left out of the pairs.
PERSONALISATION_MAX_BASKET_ITEMS = env.int("PERSONALISATION_MAX_BASKET_ITEMS", default=50)
# Recommendations kept per member (rank 1 is the next best offer).
PERSONALISATION_PER_MEMBER = env.int("PERSONALISATION_PER_MEMBER", default=5)
# Results say "significant" only with at least this many members in each group.
RESULTS_MIN_GROUP_SIZE = env.int("RESULTS_MIN_GROUP_SIZE", default=20)

# --- Logging ----------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
