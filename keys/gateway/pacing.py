"""Pacing toward the HSM's service limits: one sliding-window token log per HSM and operation
class in Redis, shared by every worker, so calls wait for a token instead of drawing 429s.

The limits are the documented Managed HSM ones (`portal.settings.HSM_SERVICE_LIMITS`, per
window of `HSM_SERVICE_LIMIT_WINDOW_SECONDS`). A call takes the next free place in its class's
window, atomically (one Lua script, Redis's own clock), and sleeps until then when that is at
most `max_wait` away. Further away, it takes nothing and raises HsmPaced carrying how long to
come back after: a place in a queue of deferred callers spaced at the limit's rate, so a task
reschedules itself (approvals.tasks) rather than holding a worker asleep. A 429 the HSM still
answers closes the class's window for its Retry-After (`hold`), for every worker at once.
`admit` is the same, in a second window per class, for a piece of work before it starts
(approvals.pacing: an execution before its claim), so a backlog waits outside the queue.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping

import redis

from keys.gateway.errors import HsmThrottled

LOGGER = logging.getLogger("keys.gateway.pacing")

# Gateway operation -> the class of the documented limits it counts against (the emulator's
# hsm_emulator/limits.py classifies the same calls on the wire).
OPERATION_CLASSES: dict[str, str] = {
    "key.create": "key_create",
    "key.import": "key_create",
    "key.get": "key_read",
    "key.list": "key_read",
    "key.list_versions": "key_read",
    "key.get_rotation_policy": "key_read",
    "key.get_deleted": "key_read",
    "key.list_deleted": "key_read",
    "key.update": "key_manage",
    "key.rotate": "key_manage",
    "key.set_rotation_policy": "key_manage",
    "key.delete": "key_manage",
    "key.recover": "key_manage",
    "key.purge": "key_manage",
    "key.backup": "key_manage",
    "key.restore": "key_manage",
    "role.list_definitions": "rbac",
    "role.set_definition": "rbac",
    "role.list_assignments": "rbac",
    "role.assign": "rbac",
    "role.revoke": "rbac",
    "hsm.backup": "full_backup",
}

# Gateway method (as a plan of HSM calls names it) -> its operation above.
METHOD_OPERATIONS: dict[str, str] = {
    "create_key": "key.create",
    "import_byok_key": "key.import",
    "get_key": "key.get",
    "update_key": "key.update",
    "rotate_key": "key.rotate",
    "get_rotation_policy": "key.get_rotation_policy",
    "set_rotation_policy": "key.set_rotation_policy",
    "delete_key": "key.delete",
    "recover_key": "key.recover",
    "purge_key": "key.purge",
    "backup_key": "key.backup",
    "restore_key": "key.restore",
    "create_role_assignment": "role.assign",
    "delete_role_assignment": "role.revoke",
    "full_backup": "hsm.backup",
}
# Reads are plentiful (1,100/s): admission does not wait for them.
UNGATED_CLASSES = frozenset({"key_read"})

# KEYS: the class's log of admitted places (sorted set, ms), the deferred callers' horizon,
# the hold set by a 429. ARGV: limit, window ms, max wait ms, a unique member suffix.
# Returns {1, wait ms} with a place taken, or {0, come back after ms} with nothing taken.
ACQUIRE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local limit, window, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local place = math.max(now, tonumber(redis.call('GET', KEYS[3]) or '0'))
local taken = redis.call('ZCARD', KEYS[1])
if taken >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], taken - limit, taken - limit, 'WITHSCORES')
  place = math.max(place, tonumber(oldest[2]) + window)
end
if place - now <= max_wait then
  redis.call('ZADD', KEYS[1], place, place .. ':' .. ARGV[4])
  redis.call('PEXPIRE', KEYS[1], place - now + window + 1000)
  return {1, place - now}
end
local spacing = math.ceil(window / limit)
local deferred = math.max(place, tonumber(redis.call('GET', KEYS[2]) or '0') + spacing)
redis.call('SET', KEYS[2], deferred, 'PX', deferred - now + window)
return {0, deferred - now}
"""
# KEYS: the hold. ARGV: ms from now. The hold only ever moves later.
HOLD = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
if until_ms > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1]) + 1000)
end
return until_ms
"""


class HsmPaced(HsmThrottled):
    """No token of the operation's class within the in-process wait: nothing was sent to the
    HSM; come back after `retry_after` seconds. Not a failure of the call."""


class Pacer:
    """Tokens for one deployment's HSMs; thread- and process-safe (all state is in Redis)."""

    def __init__(
        self,
        *,
        client: redis.Redis,
        limits: Mapping[str, int],
        window: float,
        max_wait: float,
        margin: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        unknown = set(OPERATION_CLASSES.values()) - set(limits)
        if unknown:
            raise ValueError(f"service limits missing for classes: {', '.join(sorted(unknown))}")
        if any(limit < 1 for limit in limits.values()) or window <= 0 or max_wait < 0:
            raise ValueError("service limits must be positive, the window and wait non-negative")
        self.limits, self.window, self.max_wait = dict(limits), window, max_wait
        # The margin widens the window we count in: arrival jitter never packs one extra call
        # into the HSM's own window.
        self._window_ms = round((window + margin) * 1000)
        self._sleep = sleep
        self._acquire = client.register_script(ACQUIRE)
        self._hold = client.register_script(HOLD)

    @classmethod
    def from_url(cls, url: str, **kwargs) -> Pacer:
        """A pacer on the Redis at `url` (short timeouts: pacing must not stall a call)."""
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return cls(client=client, **kwargs)

    @staticmethod
    def _key(hsm_url: str, klass: str, part: str) -> str:
        return f"keywarden:pacing:{hsm_url.rstrip('/').lower()}:{klass}:{part}"

    def acquire(self, hsm_url: str, operation: str) -> float:
        """Wait for a token of `operation`'s class on `hsm_url`; returns the seconds waited.
        Raises HsmPaced when the token is further away than `max_wait`. Unclassified
        operations pass at once; so does everything while Redis is unreachable (logged: the
        HSM's own 429s still hold the line)."""
        klass = OPERATION_CLASSES.get(operation)
        if klass is None:
            return 0.0
        return self._take(hsm_url, klass, "log", operation=operation)

    def _take(self, hsm_url: str, klass: str, log: str, *, operation: str) -> float:
        keys = [self._key(hsm_url, klass, part) for part in (log, f"{log}-deferred", "hold")]
        args = [self.limits[klass], self._window_ms, round(self.max_wait * 1000), uuid.uuid4().hex]
        try:
            taken, wait_ms = self._acquire(keys=keys, args=args)
        except redis.RedisError as exc:
            LOGGER.warning("pacing.unavailable", extra={"operation": operation, "error": str(exc)})
            return 0.0
        if not taken:
            raise HsmPaced(
                f"Paced to the HSM's service limits: no {klass} token within "
                f"{self.max_wait:g} s; try again in {wait_ms / 1000:.1f} s.",
                retry_after=wait_ms / 1000,
                code="Paced",
                operation=operation,
            )
        if wait_ms > 0:
            self._sleep(wait_ms / 1000)
        return wait_ms / 1000

    def admit(self, hsm_url: str, methods: list[str]) -> float:
        """Admission of a piece of work that will call `methods` (gateway method names): a
        place in a second window per scarce class, at the same rate, taken before the work
        starts (a task before its claim), so a backlog is spread out for the price of one
        Redis call each instead of queueing in front of other work. Returns the seconds
        waited in-process; raises HsmPaced like `acquire`. The calls still take their tokens."""
        waited = 0.0
        classes = {OPERATION_CLASSES.get(METHOD_OPERATIONS.get(method, "")) for method in methods}
        for klass in sorted(classes - UNGATED_CLASSES - {None}):
            waited += self._take(hsm_url, klass, "admit", operation=f"admit.{klass}")
        return waited

    def hold(self, hsm_url: str, operation: str, seconds: float) -> None:
        """The HSM answered 429 with Retry-After `seconds`: no token of the class is handed out
        before then, to any worker."""
        klass = OPERATION_CLASSES.get(operation)
        if klass is None or seconds <= 0:
            return
        try:
            self._hold(keys=[self._key(hsm_url, klass, "hold")], args=[round(seconds * 1000)])
        except redis.RedisError as exc:
            LOGGER.warning("pacing.unavailable", extra={"operation": operation, "error": str(exc)})

    def forget(self, hsm_url: str) -> None:
        """Drop every window of `hsm_url` (tests, benchmarks)."""
        client = self._acquire.registered_client
        keys = list(client.scan_iter(match=self._key(hsm_url, "*", "*")))
        if keys:
            client.delete(*keys)


__all__ = ["METHOD_OPERATIONS", "OPERATION_CLASSES", "HsmPaced", "Pacer"]
