"""Keywarden settings: one module, every difference between demo and production is an env value.

Unsafe production configuration fails fast at import time (ImproperlyConfigured), so a
misconfigured deployment never starts serving.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from core.client_ip import trusted_networks
from core.env import env_bool, env_float, env_int, env_list, env_map, env_str
from portal.api_config import API_SCHEMA_SETTINGS, rest_framework_settings
from portal.log_config import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


# --- Core -------------------------------------------------------------------------------------
DEBUG = env_bool("DEBUG", False)
DATA_DIR = Path(env_str("KEYWARDEN_DATA_DIR", str(BASE_DIR / "var"))).resolve()

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
    # The same backend, counting connections, queries and their durations for /metrics.
    DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
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

# --- Celery -------------------------------------------------------------------------------------
# Default: kombu's filesystem transport, an embedded broker that needs no server (demo).
BROKER_DIR = DATA_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_IS_EMBEDDED = CELERY_BROKER_URL.startswith("filesystem://")
if CELERY_BROKER_IS_EMBEDDED:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", f"file://{BROKER_DIR / 'results'}")
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "keywarden")
# Notifications wait in a queue of their own: a slow mail server or webhook never holds up
# HSM work.
CELERY_NOTIFY_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-notify"
# The sweeper has a queue of its own: recovering a dead worker's request never waits behind
# a backlog of executions.
CELERY_SWEEP_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-sweep"
# What the sweeper re-sends goes to a queue the execution workers also read (taking turns with
# the main one), so a dead worker's request never waits behind the whole backlog.
CELERY_RECOVERY_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-recovery"
CELERY_EXECUTION_QUEUES = (CELERY_TASK_DEFAULT_QUEUE, CELERY_RECOVERY_QUEUE)
# Periodic work (sync, sealing, checkpoints, verification, compliance, schedules, warnings,
# reports) has a worker of its own: a long sync never holds up executions, nor they it.
CELERY_PERIODIC_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-periodic"
PERIODIC_TASKS = (
    "keys.sync_inventory",
    "audit.seal_events",
    "keys.checkpoint_audit_trail",
    "keys.run_audit_verification",
    "keys.refresh_compliance",
    "keys.run_rotation_schedules",
    "keys.warn_owners",
    "keys.send_key_warnings",
    "keys.snapshot_compliance",
    "reports.send_weekly_reports",
    "posture.evaluate_posture",
    "custody.rehearse_recovery",
)
CELERY_TASK_ROUTES = {
    "approvals.notify": {"queue": CELERY_NOTIFY_QUEUE},
    "posture.notify_high_findings": {"queue": CELERY_NOTIFY_QUEUE},
    "approvals.sweep": {"queue": CELERY_SWEEP_QUEUE},
    **{name: {"queue": CELERY_PERIODIC_QUEUE} for name in PERIODIC_TASKS},
}
# Every queue some worker must consume (/readyz fails while one has no live worker).
CELERY_WORKER_QUEUES = (
    *CELERY_EXECUTION_QUEUES,
    CELERY_NOTIFY_QUEUE,
    CELERY_SWEEP_QUEUE,
    CELERY_PERIODIC_QUEUE,
)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Messages a worker process holds beyond the one it runs. 1: a request never waits behind a slow
# one while another worker is idle; 2 hides the fetch between tasks (a held message counts as
# held for the sweeper either way).
CELERY_WORKER_PREFETCH_MULTIPLIER = env_int("CELERY_PREFETCH_MULTIPLIER", 1)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# django-celery-beat's DatabaseScheduler, writing beat's heartbeat on its tick (portal.heartbeats).
CELERY_BEAT_SCHEDULER = "portal.heartbeats:HeartbeatScheduler"
CELERY_TIMEZONE = TIME_ZONE
# Every periodic job, in one place. Each survives running late, twice or concurrently.
CELERY_BEAT_SCHEDULE = {
    "approvals-sweep": {"task": "approvals.sweep", "schedule": env_int("SWEEP_SECONDS", 30)},
    "inventory-sync": {
        "task": "keys.sync_inventory",
        "schedule": env_int("INVENTORY_SYNC_SECONDS", 900),
        "kwargs": {"full": False, "trigger": "schedule"},
    },
    "inventory-full-sync": {
        "task": "keys.sync_inventory",
        "schedule": env_int("INVENTORY_FULL_SYNC_SECONDS", 86400),
        "kwargs": {"full": True, "trigger": "schedule-full"},
    },
    "audit-seal": {"task": "audit.seal_events", "schedule": env_int("AUDIT_SEAL_SECONDS", 2)},
    "audit-checkpoint": {
        "task": "keys.checkpoint_audit_trail",
        "schedule": env_int("AUDIT_CHECKPOINT_POLL_SECONDS", 60),
    },
    "audit-verification": {
        "task": "keys.run_audit_verification",
        "schedule": env_int("AUDIT_VERIFICATION_SECONDS", 86400),
    },
    "compliance-refresh": {
        "task": "keys.refresh_compliance",
        "schedule": env_int("COMPLIANCE_REFRESH_SECONDS", 86400),
    },
    "rotation-schedules": {
        "task": "keys.run_rotation_schedules",
        "schedule": env_int("ROTATION_SCHEDULES_SECONDS", 60),
    },
    "key-warnings": {"task": "keys.warn_owners", "schedule": env_int("KEY_WARNINGS_SECONDS", 3600)},
    "compliance-snapshot": {
        "task": "keys.snapshot_compliance",
        "schedule": env_int("COMPLIANCE_SNAPSHOT_SECONDS", 86400),
    },
    "custody-warnings": {
        "task": "custody.evaluate_warnings",
        "schedule": env_int("CUSTODY_WARNINGS_SECONDS", 3600),
    },
    "weekly-rotation-report": {
        "task": "reports.send_weekly_reports",
        "schedule": env_int("WEEKLY_REPORT_POLL_SECONDS", 3600),
    },
}
# The weekly rotation report goes to admins on Monday from this hour (UTC), once each.
WEEKLY_REPORT_HOUR_UTC = env_int("WEEKLY_REPORT_HOUR_UTC", 6)
# An each_time rotation schedule opens its run's request for custodians this long ahead.
SCHEDULE_EACH_TIME_LEAD_HOURS = env_int("SCHEDULE_EACH_TIME_LEAD_HOURS", 24)
# Signed checkpoints of the audit chain's head (audit.checkpoints): one when this many events or
# seconds passed since the last; the job looks every AUDIT_CHECKPOINT_POLL_SECONDS. Each is also
# appended to AUDIT_CHECKPOINT_FILE (JSON Lines, '' = none), which should live outside the
# database host and be append-only (chattr +a, or shipped to a log store).
AUDIT_CHECKPOINT_EVENTS = env_int("AUDIT_CHECKPOINT_EVENTS", 1000)
# The audit sealer (audit.sealer): every Celery worker runs one as a child process (one leads,
# the others stand by), unless AUDIT_SEALER_IN_WORKER is off (then run `manage.py audit_sealer`).
# It seals when writers notify, and at least every AUDIT_SEAL_SECONDS; beat's backstop task runs
# as often and seals only while no sealer is at work.
AUDIT_SEALER_IN_WORKER = env_bool("AUDIT_SEALER_IN_WORKER", True)
AUDIT_SEAL_SECONDS = env_int("AUDIT_SEAL_SECONDS", 2)
AUDIT_CHECKPOINT_SECONDS = env_int("AUDIT_CHECKPOINT_SECONDS", 300)
AUDIT_CHECKPOINT_POLL_SECONDS = env_int("AUDIT_CHECKPOINT_POLL_SECONDS", 60)
AUDIT_CHECKPOINT_FILE = env_str(
    "AUDIT_CHECKPOINT_FILE", str(DATA_DIR / "audit" / "checkpoints.jsonl")
)
AUDIT_CHECKPOINT_KEY_NAME = env_str("AUDIT_CHECKPOINT_KEY_NAME", "keywarden-audit-checkpoint")
if min(AUDIT_CHECKPOINT_EVENTS, AUDIT_CHECKPOINT_SECONDS, AUDIT_CHECKPOINT_POLL_SECONDS) < 1:
    raise ImproperlyConfigured("AUDIT_CHECKPOINT_EVENTS, _SECONDS and _POLL_SECONDS must be >= 1")
# --- Execution timing: every bound derives from the HSM timeouts, here and only here ----------
# One HSM try: connect, then wait for the answer (a read timeout is not the end of the call).
HSM_TIMEOUT_SECONDS = env_int("HSM_TIMEOUT_SECONDS", 30)
HSM_CONNECT_TIMEOUT_SECONDS = min(10, max(1, HSM_TIMEOUT_SECONDS // 5))
HSM_TRY_SECONDS = HSM_CONNECT_TIMEOUT_SECONDS + HSM_TIMEOUT_SECONDS
# A try that timed out may still land at the HSM: a later attempt waits this long after the
# try began before it looks at the HSM (and never repeats what it finds done).
HSM_SETTLE_SECONDS = HSM_TRY_SECONDS + env_int("HSM_SETTLE_MARGIN_SECONDS", HSM_TIMEOUT_SECONDS)
# One gateway call, retries and their waits included, gives up after this.
HSM_CALL_DEADLINE_SECONDS = env_int("HSM_CALL_DEADLINE_SECONDS", 120)
# An execution attempt without a heartbeat for this long is taken over (its worker died). A
# live attempt beats before every HSM try and every HEARTBEAT_SECONDS of a retry wait, so the
# longest it stays silent is one try or one slice of a wait.
EXECUTION_LEASE_SECONDS = env_int("EXECUTION_LEASE_SECONDS", 120)
HEARTBEAT_SECONDS = max(1, EXECUTION_LEASE_SECONDS // 4)
if max(HSM_TRY_SECONDS, HEARTBEAT_SECONDS) >= EXECUTION_LEASE_SECONDS:
    raise ImproperlyConfigured(
        f"EXECUTION_LEASE_SECONDS ({EXECUTION_LEASE_SECONDS}) must exceed the longest a live "
        f"attempt goes without a heartbeat: one HSM try, {HSM_TRY_SECONDS} s "
        f"(connect {HSM_CONNECT_TIMEOUT_SECONDS} + HSM_TIMEOUT_SECONDS {HSM_TIMEOUT_SECONDS})."
    )
# A request whose transient HSM errors reach this many attempts fails (deferrals don't count).
MAX_TRANSIENT_ATTEMPTS = env_int("MAX_TRANSIENT_ATTEMPTS", 9)
# An approved request not started this long after dispatch is dispatched again.
REDISPATCH_AFTER_SECONDS = env_int("REDISPATCH_AFTER_SECONDS", 60)
# A transient failure whose Celery retry never arrived is dispatched again after this, when the
# broker cannot be asked whether the retry is still waiting (the embedded broker).
RETRY_LOST_AFTER_SECONDS = env_int("RETRY_LOST_AFTER_SECONDS", 600)

# --- Managed HSM --------------------------------------------------------------------------------
HSM_URL = env_str("HSM_URL", "https://127.0.0.1:8443")
HSM_CREDENTIAL = env_str("HSM_CREDENTIAL", "emulator" if DEBUG else "azure")
if HSM_CREDENTIAL not in {"azure", "emulator"}:
    raise ImproperlyConfigured("HSM_CREDENTIAL must be 'azure' or 'emulator'")
# CA bundle of the emulator (demo/tests); empty = the system trust store.
HSM_CA_FILE = env_str("HSM_CA_FILE", str(DATA_DIR / "hsm" / "ca.pem") if DEBUG else "")
# Keywarden's own principal: the managed identity's object id in production (used to check its
# permissions), the identity the emulator credential signs in as in demo/tests.
HSM_PRINCIPAL_ID = env_str("HSM_PRINCIPAL_ID", "00000000-0000-0000-0000-00000000b001")
# The scope Keywarden's custom role is assigned at: all keys, nothing else.
HSM_ROLE_SCOPE = "/keys"
# The audit checkpoint signer: a separate identity that may only sign with (and read) the
# checkpoint key — its object id (checked at set-up; the emulator principal in demo/tests) and,
# in Azure, the client id of its user-assigned managed identity.
HSM_AUDIT_PRINCIPAL_ID = env_str("HSM_AUDIT_PRINCIPAL_ID", "00000000-0000-0000-0000-00000000b002")
HSM_AUDIT_CLIENT_ID = env_str("HSM_AUDIT_CLIENT_ID")
if HSM_AUDIT_PRINCIPAL_ID == HSM_PRINCIPAL_ID:
    raise ImproperlyConfigured(
        "HSM_AUDIT_PRINCIPAL_ID must differ from HSM_PRINCIPAL_ID: Keywarden's own identity "
        "never signs audit checkpoints"
    )
# Managed HSM service limits (learn.microsoft.com/azure/key-vault/general/service-limits,
# "Resource type: Managed HSM"; published as operations per second per HSM instance, counted
# here per window, so x10 per 10 s): Create Key 1/s (any RSA size, EC curve, AES size; import
# counts as create), Delete/Purge/Backup/Restore Key 10/s (rotate, update, recover and rotation
# policies are counted with them), Get Key Information 1,100/s, all RBAC operations 5/s, full
# backup/restore 1/s. `HSM_SERVICE_LIMITS=key_manage=50,...` overrides classes (a smaller HSM
# quota, a shared HSM); the emulator's --enforce-service-limits applies the same table.
HSM_SERVICE_LIMIT_WINDOW_SECONDS = env_float("HSM_SERVICE_LIMIT_WINDOW_SECONDS", 10.0)
HSM_SERVICE_LIMITS = {"key_create": 10, "key_manage": 100, "key_read": 11000, "rbac": 50}
HSM_SERVICE_LIMITS["full_backup"] = 10
for _class, _limit in env_map("HSM_SERVICE_LIMITS").items():
    if _class not in HSM_SERVICE_LIMITS or not _limit.isdigit() or int(_limit) < 1:
        raise ImproperlyConfigured(
            f"HSM_SERVICE_LIMITS entries look like class=N (N >= 1) with a class of "
            f"{', '.join(HSM_SERVICE_LIMITS)}; got {_class}={_limit}"
        )
    HSM_SERVICE_LIMITS[_class] = int(_limit)
# Pacing toward them: a token log per HSM and class in this Redis, shared by every worker
# (empty: no pacing). By default the cache's or broker's Redis against a real HSM, none against
# the emulator (it enforces no limits unless started with --enforce-service-limits). A call
# waits in-process for a token at most HSM_PACING_MAX_WAIT_SECONDS, and a Retry-After at most
# HSM_MAX_RETRY_AFTER_SECONDS; beyond, the task reschedules itself instead of holding its worker.
_REDIS_URLS = [url for url in (CACHE_URL, CELERY_BROKER_URL) if url.startswith("redis")]
_REDIS_DEFAULT = _REDIS_URLS[0] if _REDIS_URLS and HSM_CREDENTIAL == "azure" else ""
HSM_PACING_REDIS_URL = env_str("HSM_PACING_REDIS_URL", _REDIS_DEFAULT)
HSM_PACING_MAX_WAIT_SECONDS = env_float("HSM_PACING_MAX_WAIT_SECONDS", 0.5)
HSM_PACING_MARGIN_SECONDS = env_float("HSM_PACING_MARGIN_SECONDS", 0.1)
HSM_MAX_RETRY_AFTER_SECONDS = env_float("HSM_MAX_RETRY_AFTER_SECONDS", 2.0)
if HSM_SERVICE_LIMIT_WINDOW_SECONDS <= 0 or HSM_PACING_MAX_WAIT_SECONDS < 0:
    raise ImproperlyConfigured(
        "HSM_SERVICE_LIMIT_WINDOW_SECONDS must be positive, HSM_PACING_MAX_WAIT_SECONDS >= 0"
    )
# Parallel HSM reads during an inventory sync (the round trip, not the database, bounds it).
INVENTORY_SYNC_CONCURRENCY = env_int("INVENTORY_SYNC_CONCURRENCY", 8)

# --- HSM posture and release policies (posture/, keys/release_policy.py) -----------------------
# Attestation authorities a release policy may name (https URLs, compared without a trailing
# slash); empty: none is approved, so every key.create with a release policy is refused.
RELEASE_POLICY_AUTHORITIES = env_list("RELEASE_POLICY_AUTHORITIES")
# The org's baseline: claims each branch of a release policy should pin, `|` between claims
# that stand for one another; a policy short of it is submitted with warnings, not refused.
RELEASE_POLICY_BASELINE = env_list(
    "RELEASE_POLICY_BASELINE",
    "x-ms-compliance-status,"
    "x-ms-sevsnpvm-launchmeasurement|x-ms-sgx-mrenclave|x-ms-tdx-mrtd|x-ms-sevsnpvm-hostdata",
)
POSTURE_MIN_RETENTION_DAYS = env_int("POSTURE_MIN_RETENTION_DAYS", 90)
POSTURE_BACKUP_MAX_AGE_HOURS = env_int("POSTURE_BACKUP_MAX_AGE_HOURS", 24)
# Custom role definitions (GUIDs) reviewed besides Keywarden's own two.
POSTURE_REVIEWED_ROLES = env_list("POSTURE_REVIEWED_ROLES")
# The principal directory without Microsoft Graph: `object-id=User|Group|ServicePrincipal`.
POSTURE_PRINCIPAL_TYPES = env_map("POSTURE_PRINCIPAL_TYPES")
POSTURE_MAX_ACCEPTANCE_DAYS = env_int("POSTURE_MAX_ACCEPTANCE_DAYS", 90)
# Judge posture after every inventory sync (a `posture.evaluate` task); off in the test run,
# where syncs happen by the hundred and a test turns it on when it needs it.
POSTURE_AFTER_SYNC = env_bool("POSTURE_AFTER_SYNC", True)
if not 7 <= POSTURE_MIN_RETENTION_DAYS <= 90 or POSTURE_MAX_ACCEPTANCE_DAYS < 1:
    raise ImproperlyConfigured(
        "POSTURE_MIN_RETENTION_DAYS must be 7-90 and POSTURE_MAX_ACCEPTANCE_DAYS at least 1"
    )

# --- Security-domain custody (custody app) -------------------------------------------------------
# Register changes are asked for by members of this team (the HSM platform team).
CUSTODY_TEAM = env_str("CUSTODY_TEAM", "hsm-platform")
# Warnings: a holder's certificate this close to expiry; possession confirmed this recently.
CUSTODY_CERT_WARNING_DAYS = env_int("CUSTODY_CERT_WARNING_DAYS", 60)
CUSTODY_ATTESTATION_DAYS = env_int("CUSTODY_ATTESTATION_DAYS", 90)
# Where the download ceremony writes the security domain file for the holders' process (a
# directory outside the database, e.g. the ceremony workstation's encrypted share); empty
# refuses the ceremony. Keywarden keeps only the file's SHA-256.
CUSTODY_SECURITY_DOMAIN_DIR = env_str("CUSTODY_SECURITY_DOMAIN_DIR")
# The scratch HSM a recovery rehearsal from the portal restores into (a second HSM that is
# not activated); empty: the rehearsal page says so and runs nothing.
CUSTODY_SCRATCH_HSM_URL = env_str("CUSTODY_SCRATCH_HSM_URL")
# The identity the ceremony acts as: it needs Managed HSM Administrator (on a new HSM: one of
# its initial administrators): the emulator's default initial administrator in demo/tests;
# with HSM_CREDENTIAL=azure the worker's own credential signs in.
HSM_CEREMONY_PRINCIPAL_ID = env_str(
    "HSM_CEREMONY_PRINCIPAL_ID", "00000000-0000-0000-0000-00000000a001"
)

# --- Microsoft Entra ID (MSAL) ------------------------------------------------------------------
ENTRA_TENANT_ID = env_str("ENTRA_TENANT_ID")
ENTRA_CLIENT_ID = env_str("ENTRA_CLIENT_ID")
ENTRA_CLIENT_SECRET = env_str("ENTRA_CLIENT_SECRET")
ENTRA_AUTHORITY = env_str(
    "ENTRA_AUTHORITY",
    f"https://login.microsoftonline.com/{ENTRA_TENANT_ID}" if ENTRA_TENANT_ID else "",
)
ENTRA_REDIRECT_URI = env_str("ENTRA_REDIRECT_URI")
# custodian=<group-id>,admin=<group-id>,auditor=<group-id>; team groups live on Team.
ENTRA_ROLE_GROUPS = env_map("ENTRA_ROLE_GROUPS")
if set(ENTRA_ROLE_GROUPS) - {"custodian", "admin", "auditor"}:
    raise ImproperlyConfigured(
        "ENTRA_ROLE_GROUPS roles must be custodian, admin or auditor "
        f"(requester follows from team groups), got {sorted(ENTRA_ROLE_GROUPS)}"
    )
# CA bundle for the identity provider (tests' local provider); empty = the system trust store.
ENTRA_CA_FILE = env_str("ENTRA_CA_FILE")
# MSAL's authority validation; off only for a non-Microsoft (test) OpenID Connect provider.
ENTRA_VALIDATE_AUTHORITY = env_bool("ENTRA_VALIDATE_AUTHORITY", True)
# Scopes beyond openid and profile (which MSAL always asks for); no refresh tokens are requested.
ENTRA_SCOPES = env_list("ENTRA_SCOPES", "email")
# Set (e.g. https://keywarden.example.com/accounts/login/, registered on the app) to also end
# the Entra ID session on sign-out; empty = sign out of Keywarden only.
ENTRA_POST_LOGOUT_REDIRECT_URI = env_str("ENTRA_POST_LOGOUT_REDIRECT_URI")
ENTRA_TIMEOUT_SECONDS = env_int("ENTRA_TIMEOUT_SECONDS", 10)
# API bearer tokens (portal.entra.authentication): the audiences accepted (empty = the client id
# and api://<client id>), the scope a delegated user token must hold, and app roles → portal
# roles for service accounts (custodian=Keywarden.Custodian,...; empty = the roles that
# `manage.py save_service_account` granted).
ENTRA_API_AUDIENCES = env_list("ENTRA_API_AUDIENCES")
ENTRA_API_SCOPE = env_str("ENTRA_API_SCOPE", "access_as_user")
ENTRA_APP_ROLES = env_map("ENTRA_APP_ROLES")
if set(ENTRA_APP_ROLES) - {"custodian", "admin", "auditor"}:
    raise ImproperlyConfigured(
        f"ENTRA_APP_ROLES roles must be custodian, admin or auditor, got {sorted(ENTRA_APP_ROLES)}"
    )
if ENTRA_CLIENT_ID and not (ENTRA_CLIENT_SECRET and ENTRA_AUTHORITY):
    raise ImproperlyConfigured(
        "ENTRA_CLIENT_ID is set but ENTRA_CLIENT_SECRET or ENTRA_TENANT_ID/ENTRA_AUTHORITY is "
        "not: Entra ID sign-in needs the app registration's tenant, client id and secret."
    )

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

# --- Operations: liveness, time limits, metrics ---------------------------------------------------
# Every worker (a bootstep) and beat (its tick) write a heartbeat every WORKER_HEARTBEAT_SECONDS;
# /readyz and the admin home call one stale after HEARTBEAT_STALE_PERIODS periods without one.
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 10)
HEARTBEAT_STALE_PERIODS = env_int("HEARTBEAT_STALE_PERIODS", 3)
if WORKER_HEARTBEAT_SECONDS < 1 or HEARTBEAT_STALE_PERIODS < 2:
    raise ImproperlyConfigured(
        "WORKER_HEARTBEAT_SECONDS must be >= 1, HEARTBEAT_STALE_PERIODS >= 2"
    )
# Beat wakes at least once a period, so its tick (and heartbeat) never waits on a quiet schedule.
CELERY_BEAT_MAX_LOOP_INTERVAL = WORKER_HEARTBEAT_SECONDS
# The admin home warns when an approved request has waited this long for a worker.
APPROVED_WAIT_WARNING_SECONDS = env_int("APPROVED_WAIT_WARNING_SECONDS", 60)
# Task time limits, soft (SoftTimeLimitExceeded inside the task) and hard (the pool process is
# killed) = soft + TASK_TIME_LIMIT_GRACE_SECONDS. An execution outlives one HSM call with all its
# retries (HSM_CALL_DEADLINE_SECONDS) several times over; when its soft limit strikes, the
# attempt stays RUNNING under its lease and is taken over like a dead worker's (approvals.lease).
TASK_TIME_LIMIT_GRACE_SECONDS = env_int("TASK_TIME_LIMIT_GRACE_SECONDS", 30)
TASK_SOFT_TIME_LIMITS = {
    "approvals.execute_request": env_int(
        "EXECUTION_SOFT_TIME_LIMIT_SECONDS", max(600, 3 * HSM_CALL_DEADLINE_SECONDS)
    ),
    "approvals.notify": 120,
    "approvals.sweep": 300,
    "keys.sync_inventory": env_int("SYNC_SOFT_TIME_LIMIT_SECONDS", 3600),
    "keys.run_audit_verification": env_int("VERIFICATION_SOFT_TIME_LIMIT_SECONDS", 3600),
}
CELERY_TASK_SOFT_TIME_LIMIT = env_int("TASK_SOFT_TIME_LIMIT_SECONDS", 900)  # every other task
CELERY_TASK_TIME_LIMIT = CELERY_TASK_SOFT_TIME_LIMIT + TASK_TIME_LIMIT_GRACE_SECONDS
CELERY_TASK_ANNOTATIONS = {
    name: {"soft_time_limit": soft, "time_limit": soft + TASK_TIME_LIMIT_GRACE_SECONDS}
    for name, soft in TASK_SOFT_TIME_LIMITS.items()
}
if (
    TASK_SOFT_TIME_LIMITS["approvals.execute_request"]
    <= HSM_CALL_DEADLINE_SECONDS + HSM_TRY_SECONDS
):
    raise ImproperlyConfigured(
        "EXECUTION_SOFT_TIME_LIMIT_SECONDS must exceed one HSM call with its retries "
        f"(HSM_CALL_DEADLINE_SECONDS {HSM_CALL_DEADLINE_SECONDS} + one try {HSM_TRY_SECONDS} s)"
    )
# GET /metrics (Prometheus): open to a bearer token (METRICS_TOKEN) or to clients from
# METRICS_ALLOWED_NETWORKS (IPs/CIDRs); with neither set, /metrics does not exist (404).
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS")
trusted_networks(METRICS_ALLOWED_NETWORKS, setting="METRICS_ALLOWED_NETWORKS")
# Counters that workers add to and the web process reads (keys.metrics): this Redis, under a
# prefix per deployment (the queue name, so two test runs never mix). Empty: not counted.
METRICS_REDIS_URL = env_str("METRICS_REDIS_URL", _REDIS_URLS[0] if _REDIS_URLS else "")
METRICS_REDIS_PREFIX = env_str("METRICS_REDIS_PREFIX", f"{CELERY_TASK_DEFAULT_QUEUE}:metrics:")

# --- Logging ------------------------------------------------------------------------------------
# Standard logging everywhere (logger.info("request.dispatch_failed", extra={...})); structlog
# renders each record with its extra fields: JSON lines in production, readable in the demo.
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOG_FORMAT = env_str("LOG_FORMAT", "console" if DEBUG else "json")
LOGGING = logging_config(level=LOG_LEVEL, renderer=LOG_FORMAT)
