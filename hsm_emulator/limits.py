"""Managed HSM service limits (``--enforce-service-limits``): per-window limits by operation
class and key type, answered with the service's 429 ``Throttled`` and ``Retry-After``.

The published figures (learn.microsoft.com/azure/key-vault/general/service-limits, "Resource
type: Managed HSM") are operations per second per HSM instance; the defaults here are the same
figures per 10-second window (x10), as Keywarden's pacing counts them
(``portal.settings.HSM_SERVICE_LIMITS``). Windows slide: a request is admitted when fewer than
``limit`` requests of its bucket were admitted in the last ``window`` seconds; a refused request
is not counted and is told, in whole seconds rounded up, when the oldest admitted one leaves.
"""

from __future__ import annotations

import collections
import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from hsm_emulator.errors import ApiError, bad_parameter

WINDOW_SECONDS = 10.0
# Operation class -> requests per window (published per-second figure x 10).
DEFAULT_LIMITS: dict[str, int] = {
    "key_create": 10,  # Create Key: 1/s for every RSA size, EC curve and AES size (import too)
    "key_manage": 100,  # Delete, Purge, Backup, Restore: 10/s (rotate, update, recover, policy)
    "key_read": 11000,  # Get Key Information: 1,100/s (lists, versions, rotation policy reads)
    "rbac": 50,  # All RBAC operations: 5/s (role definitions and assignments)
    "full_backup": 10,  # Full HSM backup/restore: 1/s (one at a time besides)
    "crypto": 11000,  # Sign/decrypt/unwrap RSA-2048: 1,100/s; per key type below
}
# Per key type overrides (``class:keytype``) for the published crypto figures that differ.
DEFAULT_KEY_TYPE_LIMITS: dict[str, int] = {
    "crypto:RSA-3072": 3600,
    "crypto:RSA-4096": 1600,
    "crypto:EC-P-256": 2600,
    "crypto:EC-P-256K": 2600,
    "crypto:EC-P-384": 1650,
    "crypto:EC-P-521": 560,
    "crypto:oct-128": 80000,
    "crypto:oct-192": 80000,
    "crypto:oct-256": 80000,
}

# Data action of a route (hsm_emulator.routes) -> operation class; unlisted actions are free.
ACTION_CLASSES: dict[str, str] = {
    "keys/create": "key_create",
    "keys/import/action": "key_create",
    "keys/read/action": "key_read",
    "keys/deletedKeys/read/action": "key_read",
    "keys/rotate/action": "key_manage",
    "keys/write/action": "key_manage",
    "keys/delete": "key_manage",
    "keys/backup/action": "key_manage",
    "keys/restore/action": "key_manage",
    "keys/deletedKeys/recover/action": "key_manage",
    "keys/deletedKeys/delete": "key_manage",
    "roleDefinitions/read/action": "rbac",
    "roleDefinitions/write/action": "rbac",
    "roleDefinitions/delete/action": "rbac",
    "roleAssignments/read/action": "rbac",
    "roleAssignments/write/action": "rbac",
    "roleAssignments/delete/action": "rbac",
    "backup/start/action": "full_backup",
    "restore/start/action": "full_backup",
}
CRYPTO_ACTION_SUFFIXES = ("/encrypt/action", "/decrypt/action", "/sign/action")
CRYPTO_ACTION_SUFFIXES += ("/verify/action", "/wrap/action", "/unwrap/action")


def key_type(kty: str | None, key_size: int | None, crv: str | None) -> str:
    """``RSA-3072``, ``EC-P-256``, ``oct-256`` (``-HSM`` dropped); '' when unknown."""
    family = (kty or "").removesuffix("-HSM")
    if family == "EC":
        return f"EC-{crv}" if crv else ""
    if family in ("RSA", "oct"):
        return f"{family}-{key_size or (2048 if family == 'RSA' else 256)}"
    return ""


def operation_class(action: str) -> str | None:
    """The limit class of a data action, None when the service publishes no limit for it."""
    if action in ACTION_CLASSES:
        return ACTION_CLASSES[action]
    if action.endswith(CRYPTO_ACTION_SUFFIXES):
        return "crypto"
    return None


class ServiceLimits:
    """Sliding-window admission per bucket (class, or class:keytype when configured).

    Thread-safe; ``clock`` is injectable so tests can drive it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.enabled = False
        self.window = WINDOW_SECONDS
        self.limits: dict[str, int] = {}
        self._admitted: dict[str, collections.deque[float]] = {}
        self.throttled = 0
        self.admitted = 0

    def configure(
        self, *, enabled: bool, window: float = WINDOW_SECONDS, limits: dict[str, int] | None = None
    ) -> None:
        """Switch enforcement and set the numbers; ``limits`` overrides the published ones
        (``{"key_manage": 5, "crypto:EC-P-256": 20}``). Counters start afresh."""
        if not (isinstance(window, int | float) and 0 < window <= 3600):
            raise bad_parameter("'window_seconds' must be a number of seconds in (0, 3600].")
        merged = {**DEFAULT_LIMITS, **DEFAULT_KEY_TYPE_LIMITS}
        for name, limit in (limits or {}).items():
            if name.split(":", 1)[0] not in DEFAULT_LIMITS:
                known = ", ".join(sorted(DEFAULT_LIMITS))
                raise bad_parameter(f"Unknown limit class {name!r}; known classes: {known}.")
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
                raise bad_parameter(f"The limit of {name!r} must be a positive integer.")
            merged[name] = limit
        with self._lock:
            self.enabled, self.window, self.limits = enabled, float(window), merged
            self._admitted, self.throttled, self.admitted = {}, 0, 0

    def document(self) -> dict[str, Any]:
        """The configuration and counters, as ``GET /_emulator/limits`` reports them."""
        with self._lock:
            return {
                "enabled": self.enabled,
                "window_seconds": self.window,
                "limits": dict(self.limits),
                "admitted": self.admitted,
                "throttled": self.throttled,
            }

    def admit(self, action: str, kind: str = "") -> None:
        """Count one request of ``action`` on a key of type ``kind``; raise the service's 429
        (with Retry-After) when its bucket is full for the current window."""
        klass = operation_class(action) if self.enabled else None
        if klass is None:
            return
        bucket = f"{klass}:{kind}" if kind and f"{klass}:{kind}" in self.limits else klass
        with self._lock:
            limit, now = self.limits[bucket], self._clock()
            times = self._admitted.setdefault(bucket, collections.deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) < limit:
                times.append(now)
                self.admitted += 1
                return
            self.throttled += 1
            wait = max(1, math.ceil(times[0] + self.window - now))
        raise ApiError(
            429,
            "Throttled",
            f"Request was not processed because too many requests were received for "
            f"operation class {bucket} ({limit} per {self.window:g} seconds). "
            f"Try again in {wait} seconds.",
            headers={"Retry-After": str(wait)},
        )


def parse_limits_body(document: dict[str, Any]) -> dict[str, Any]:
    """``PUT /_emulator/limits`` body → ``configure`` arguments (400 on anything else)."""
    unknown = set(document) - {"enabled", "window_seconds", "limits"}
    if unknown or not isinstance(document.get("enabled"), bool):
        raise bad_parameter(
            'The body must be {"enabled": true|false, "window_seconds": N, "limits": {...}}.'
        )
    limits = document.get("limits") or {}
    if not isinstance(limits, dict):
        raise bad_parameter("'limits' must be an object of class -> requests per window.")
    return {
        "enabled": document["enabled"],
        "window": document.get("window_seconds", WINDOW_SECONDS),
        "limits": limits,
    }


def parse_limit_flag(value: str) -> tuple[str, int]:
    """``--service-limit key_manage=5`` → (``key_manage``, 5)."""
    name, sep, raw = value.partition("=")
    if not sep or not raw.strip().isdigit():
        raise ValueError(f"a service limit looks like class=N, got {value!r}")
    return name.strip(), int(raw)


def request_key_type(app: Any, action: str, body: bytes, params: dict[str, str]) -> str:
    """The key type a request is counted under: from the body of a create, from the stored
    key otherwise ('' when there is no such key: the route answers for itself)."""
    if "name" not in params or operation_class(action) is None:
        return ""
    if action == "keys/create":
        try:
            document = json.loads(body or b"{}")
        except ValueError:
            return ""
        if isinstance(document, dict):
            size = document.get("key_size")
            return key_type(
                document.get("kty"), size if isinstance(size, int) else None, document.get("crv")
            )
        return ""
    try:
        key = app.store.keys.get(params["name"], params.get("version") or None)
    except ApiError:
        return ""
    return key_type(key.kty, key.key_size, key.crv)
