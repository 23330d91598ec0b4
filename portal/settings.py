"""Keywarden settings: every difference between demo and production is an env value.

Unsafe production configuration fails fast at import time (ImproperlyConfigured), so a
misconfigured deployment never starts serving. Themed blocks live in portal/*_config.py, each
read from the environment the same way and imported here whole.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from core.client_ip import trusted_networks
from core.env import env_bool, env_float, env_int, env_list, env_str
from portal.api_config import API_SCHEMA_SETTINGS, rest_framework_settings
from portal.base_config import BASE_DIR, DATA_DIR, DEBUG
from portal.celery_config import *  # noqa: F403  (CELERY_*, the queues, periodic jobs, time limits)
from portal.celery_config import CELERY_BROKER_URL, CELERY_TASK_DEFAULT_QUEUE
from portal.domain_config import *  # noqa: F403  (reports, schedules, audit trail, posture, custody)
from portal.entra_config import *  # noqa: F403  (ENTRA_*)
from portal.hsm_config import *  # noqa: F403  (HSM_*, execution timing)
from portal.hsm_config import HSM_CREDENTIAL
from portal.log_config import logging_config

# --- Core -------------------------------------------------------------------------------------
# The demo key is public on purpose; the check below refuses it whenever DEBUG is off.
INSECURE_DEV_SECRET_KEY = "insecure-keywarden-demo-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", INSECURE_DEV_SECRET_KEY)
if not DEBUG and SECRET_KEY == INSECURE_DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set: refusing to start with the built-in demo key while DEBUG is off. "
        "Set SECRET_KEY (50+ random characters) or DEBUG=true for a local demo."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Local username/password sign-in: only for the demo and the test suite.
LOCAL_LOGIN_ENABLED = env_bool("KEYWARDEN_LOCAL_LOGIN", DEBUG)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_celery_beat",
    "axes",
    "django_prometheus",
    "accounts",
    "audit",
    "notifications",
    "keys",
    "custody",
    "approvals",
    "reports",
    "posture",
    "portal",
]

# The largest request body the API reads (a BYOK key.import is a few KB): larger is a 413.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1_048_576)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",  # first: times every request
    "portal.middleware.RequestIdMiddleware",
    "portal.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "portal.security.PortalCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.demo_errors.ProductErrorPagesMiddleware",  # DEBUG on: still the product's pages
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked-out sign-in into a 429
    "django_prometheus.middleware.PrometheusAfterMiddleware",  # last: counts the response
]
# Password guessing: SIGN_IN_FAILURE_LIMIT wrong passwords for one username (from anywhere), or
# from one address (for any usernames), lock it out for SIGN_IN_LOCKOUT_MINUTES (django-axes).
# SIGN_IN_LOCKOUT_BY lists what is counted: `username,ip_address`; `username+ip_address` counts
# the pair. The address is core.client_ip's, as in the audit trail and the API's throttles.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("SIGN_IN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("SIGN_IN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [
    item.split("+") for item in env_list("SIGN_IN_LOCKOUT_BY", "username,ip_address")
]
if not AXES_LOCKOUT_PARAMETERS or not set().union(*AXES_LOCKOUT_PARAMETERS) <= {
    "username",
    "ip_address",
}:
    raise ImproperlyConfigured("SIGN_IN_LOCKOUT_BY lists username and/or ip_address (+ pairs)")
AXES_CLIENT_IP_CALLABLE = "core.client_ip.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "portal.sign_in_limits.locked_out"
# No start-up banner: it lands on every management command's stderr (lockouts are still logged).
AXES_VERBOSE = False

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
ASGI_APPLICATION = "portal.asgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.portal",
                "notifications.context_processors.inbox",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------
# Default: a SQLite file for the zero-setup demo. Production and CI: DATABASE_URL=postgres://...
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'keywarden.sqlite3'}")
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The same backend, counting connections, queries and their durations for /metrics, with
    # health checks that ask the server only when its socket has something to say.
    DATABASES["default"]["ENGINE"] = "core.postgresql"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: wait for locks, take the write lock up front, use WAL.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not :memory:) so worker subprocesses can share the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-keywarden.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    # Not a rule: Django calls its password_changed() hook, which revokes the API tokens.
    {"NAME": "portal.api_tokens.RevokeApiTokensOnPasswordChange"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(DATA_DIR / "static")))
# Serve straight from the source folders unless collectstatic ran (the container image runs it).
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", DEBUG)

# Shared cache (sign-in throttling, dashboards): Redis in production, per-process otherwise.
CACHE_URL = env_str("CACHE_URL")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# --- Security -----------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# No inline script or style anywhere (django-csp; portal.security adds the Entra ID origin to
# form-action and relaxes styles for the Swagger UI page only).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Reverse proxies (IPs or CIDRs) whose X-Forwarded-For is believed; empty: the header is ignored.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
trusted_networks(TRUSTED_PROXIES)  # a malformed entry fails fast
# /healthz, /readyz and /metrics are probed and scraped over plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz\Z", r"^readyz\Z", r"^metrics\Z"]

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = rest_framework_settings(
    browsable=DEBUG, sign_in_rate=env_str("SIGN_IN_RATE", "10/min")
)
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env_int("API_TOKEN_TTL_HOURS", 10)),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
    # Live tokens per user; the token endpoint refuses one more (portal.api_tokens).
    "TOKEN_LIMIT_PER_USER": env_int("API_TOKENS_PER_USER", 10),
}
SPECTACULAR_SETTINGS = API_SCHEMA_SETTINGS


CELERY_TIMEZONE = TIME_ZONE

# --- Redis shared by the HSM pacing and the metrics -------------------------------------------
# Pacing toward them: a token log per HSM and class in this Redis, shared by every worker
# (empty: no pacing). By default the cache's or broker's Redis against a real HSM, none against
# the emulator (it enforces no limits unless started with --enforce-service-limits). A call
# the emulator (it enforces no limits unless started with --enforce-service-limits).
_REDIS_URLS = [url for url in (CACHE_URL, CELERY_BROKER_URL) if url.startswith("redis")]
_REDIS_DEFAULT = _REDIS_URLS[0] if _REDIS_URLS and HSM_CREDENTIAL == "azure" else ""
HSM_PACING_REDIS_URL = env_str("HSM_PACING_REDIS_URL", _REDIS_DEFAULT)

# --- Email --------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    # The demo writes each mail to a file under EMAIL_FILE_PATH, shown at /demo/mail/.
    "django.core.mail.backends.filebased.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "keywarden@localhost")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(DATA_DIR / "mail"))  # file backend only

# A process's request events leave for the notify queue in one message per this long at most
# (from the first event on): a burst of events costs a few notify tasks, not one each, and a
# request's mail comes this much later. 0 sends each as soon as the last message is out.
NOTIFY_GATHER_SECONDS = env_float("NOTIFY_GATHER_SECONDS", 0.5)
if not 0 <= NOTIFY_GATHER_SECONDS <= 10:
    raise ImproperlyConfigured("NOTIFY_GATHER_SECONDS must be between 0 and 10")

# Chat webhooks for the custodians (a team's own are set on its notifications page). They are
# credentials: from the environment only.
CUSTODIAN_TEAMS_WEBHOOK_URL = env_str("CUSTODIAN_TEAMS_WEBHOOK_URL")
CUSTODIAN_SLACK_WEBHOOK_URL = env_str("CUSTODIAN_SLACK_WEBHOOK_URL")

# Links in emails and chat messages point here.
PORTAL_URL = env_str("PORTAL_URL", "http://127.0.0.1:8000").rstrip("/")

# --- Demo ---------------------------------------------------------------------------------------
DEMO_PASSWORD = env_str("KEYWARDEN_DEMO_PASSWORD", "keywarden-demo")
# Django's debug pages (URL list, traceback, settings) instead of the product's 404/500 pages
# while DEBUG is on; off, the demo's users see what production shows (portal/demo_errors.py).
DEBUG_ERROR_PAGES = env_bool("DEBUG_ERROR_PAGES", False)

# GET /metrics (Prometheus): open to a bearer token (METRICS_TOKEN) or to clients from
# METRICS_ALLOWED_NETWORKS (IPs/CIDRs); with neither set, /metrics does not exist (404).
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS")
trusted_networks(METRICS_ALLOWED_NETWORKS, setting="METRICS_ALLOWED_NETWORKS")
# Counters that workers add to and the web process reads (keys.metrics): this Redis, under a
# prefix per deployment (the queue name, so two test runs never mix). Empty: not counted.
METRICS_REDIS_URL = env_str("METRICS_REDIS_URL", _REDIS_URLS[0] if _REDIS_URLS else "")
METRICS_REDIS_PREFIX = env_str("METRICS_REDIS_PREFIX", f"{CELERY_TASK_DEFAULT_QUEUE}:metrics:")
# Each process writes its counts to that Redis this often (0: every count at once).
METRICS_FLUSH_SECONDS = env_float("METRICS_FLUSH_SECONDS", 1.0)

# --- Logging ------------------------------------------------------------------------------------
# Standard logging everywhere (logger.info("request.dispatch_failed", extra={...})); structlog
# renders each record with its extra fields: JSON lines in production, readable in the demo.
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "console" if DEBUG else "json")
LOGGING = logging_config(level=LOG_LEVEL, renderer=LOG_FORMAT)
