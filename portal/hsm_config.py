"""The Managed HSM: execution timing (every bound derives from the HSM timeouts), the HSM, its
identities, its service limits and the pacing toward them."""

from django.core.exceptions import ImproperlyConfigured

from core.env import env_float, env_int, env_map, env_str
from portal.base_config import DATA_DIR, DEBUG

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
# A call waits in-process for a token at most HSM_PACING_MAX_WAIT_SECONDS, and a Retry-After at
# most HSM_MAX_RETRY_AFTER_SECONDS; beyond, the task reschedules itself instead of holding its
# worker (the pacing Redis, HSM_PACING_REDIS_URL, is in portal/settings.py).
HSM_PACING_MAX_WAIT_SECONDS = env_float("HSM_PACING_MAX_WAIT_SECONDS", 0.5)
HSM_PACING_MARGIN_SECONDS = env_float("HSM_PACING_MARGIN_SECONDS", 0.1)
HSM_MAX_RETRY_AFTER_SECONDS = env_float("HSM_MAX_RETRY_AFTER_SECONDS", 2.0)
if HSM_SERVICE_LIMIT_WINDOW_SECONDS <= 0 or HSM_PACING_MAX_WAIT_SECONDS < 0:
    raise ImproperlyConfigured(
        "HSM_SERVICE_LIMIT_WINDOW_SECONDS must be positive, HSM_PACING_MAX_WAIT_SECONDS >= 0"
    )
# Parallel HSM reads during an inventory sync (the round trip, not the database, bounds it).
INVENTORY_SYNC_CONCURRENCY = env_int("INVENTORY_SYNC_CONCURRENCY", 8)
