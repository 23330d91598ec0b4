"""The apps' own settings: weekly reports, rotation schedules, audit checkpoints and sealing,
HSM posture and release policies, security-domain custody."""

from django.core.exceptions import ImproperlyConfigured

from core.env import env_bool, env_float, env_int, env_list, env_map, env_str
from portal.base_config import DATA_DIR

# --- Reports, rotation schedules and the audit trail ---------------------------------------------
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
# The leader looks for unsealed events every AUDIT_SEAL_LOOK_SECONDS (the most an event waits
# for its seal, plus the seal); a standby tries to lead every AUDIT_SEAL_SECONDS, and beat's
# backstop task runs as often and seals only while no sealer is at work.
AUDIT_SEALER_IN_WORKER = env_bool("AUDIT_SEALER_IN_WORKER", True)
AUDIT_SEAL_SECONDS = env_int("AUDIT_SEAL_SECONDS", 2)
AUDIT_SEAL_LOOK_SECONDS = env_float("AUDIT_SEAL_LOOK_SECONDS", 0.05)
if not 0 < AUDIT_SEAL_LOOK_SECONDS <= AUDIT_SEAL_SECONDS:
    raise ImproperlyConfigured("AUDIT_SEAL_LOOK_SECONDS must be > 0 and <= AUDIT_SEAL_SECONDS")
AUDIT_CHECKPOINT_SECONDS = env_int("AUDIT_CHECKPOINT_SECONDS", 300)
AUDIT_CHECKPOINT_POLL_SECONDS = env_int("AUDIT_CHECKPOINT_POLL_SECONDS", 60)
AUDIT_CHECKPOINT_FILE = env_str(
    "AUDIT_CHECKPOINT_FILE", str(DATA_DIR / "audit" / "checkpoints.jsonl")
)
AUDIT_CHECKPOINT_KEY_NAME = env_str("AUDIT_CHECKPOINT_KEY_NAME", "keywarden-audit-checkpoint")
if min(AUDIT_CHECKPOINT_EVENTS, AUDIT_CHECKPOINT_SECONDS, AUDIT_CHECKPOINT_POLL_SECONDS) < 1:
    raise ImproperlyConfigured("AUDIT_CHECKPOINT_EVENTS, _SECONDS and _POLL_SECONDS must be >= 1")

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
