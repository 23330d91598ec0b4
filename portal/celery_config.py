"""Celery: the broker, the queues and their routes, the periodic jobs, worker liveness and task
time limits (settings.CELERY_*; portal/settings.py imports them)."""

from django.core.exceptions import ImproperlyConfigured

from core.env import env_int, env_str
from portal.base_config import DATA_DIR
from portal.hsm_config import HSM_CALL_DEADLINE_SECONDS, HSM_TRY_SECONDS

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
# How often beat sends the sweeper (approvals.sweep). A lease that runs out before the next
# sweep gets one more sweep at that moment (approvals.services.next_lease_expiry).
SWEEP_SECONDS = env_int("SWEEP_SECONDS", 30)
# Every periodic job, in one place. Each survives running late, twice or concurrently.
CELERY_BEAT_SCHEDULE = {
    "approvals-sweep": {"task": "approvals.sweep", "schedule": SWEEP_SECONDS},
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
