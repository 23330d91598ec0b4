"""Bounded retries with exponential backoff that honours Retry-After: the one retry layer.

The SDK's own retry policy is switched off (retry_total=0): it sleeps any Retry-After however
long, and cannot tell which of our operations are safe to repeat after a broken connection.
A worker's attempt installs a `heartbeat` (keys.gateway.HsmGateway.with_heartbeat): it runs
before every try and every `heartbeat_every` seconds of a wait, so a live attempt keeps its
lease, and it raises when the attempt has been fenced off, which ends the call at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from keys.gateway.errors import HsmError, HsmThrottled, HsmTransientError, HsmUnavailable


@dataclass(frozen=True)
class RetryPolicy:
    """`max_attempts` calls at most; waits base·2^n (capped, jittered) or Retry-After.

    A Retry-After longer than `max_retry_after` is not waited out in-process: the error is
    raised at once so the caller (a Celery task) can reschedule without holding a worker
    (workers' gateways cap it at HSM_MAX_RETRY_AFTER_SECONDS, 2 s; HsmPaced, raised before a
    try when pacing has no token soon, is never retried here either)."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    deadline: float = 120.0  # seconds for one call, its retries and waits included
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    heartbeat: Callable[[], None] | None = None
    heartbeat_every: float = 5.0

    def should_retry(self, error: HsmError, attempt: int, *, idempotent: bool) -> bool:
        if attempt >= self.max_attempts or not isinstance(error, HsmTransientError):
            return False
        if isinstance(error, HsmUnavailable) and error.maybe_applied and not idempotent:
            return False  # the HSM may have done it: the caller must look before repeating
        return error.retry_after is None or error.retry_after <= self.max_retry_after

    def delay(self, error: HsmError, attempt: int) -> float:
        if isinstance(error, HsmTransientError) and error.retry_after is not None:
            return error.retry_after
        return backoff(attempt, base=self.base_delay, cap=self.max_delay)

    def run(self, call: Callable[[], object], *, idempotent: bool, translate) -> object:
        """Run `call`, translating SDK errors with `translate` and retrying transient ones
        until the attempts or the deadline run out."""
        started, attempt = self.clock(), 0
        while True:
            attempt += 1
            self._beat()
            try:
                return call()
            except HsmError:
                raise
            except Exception as exc:
                error = translate(exc)
                if error is None:
                    raise
                if not self.should_retry(error, attempt, idempotent=idempotent):
                    raise error from exc
                wait = self.delay(error, attempt)
                if self.clock() - started + wait > self.deadline:
                    raise error from exc
                self._wait(wait)

    def _beat(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat()

    def _wait(self, seconds: float) -> None:
        """Sleep `seconds`, beating every `heartbeat_every` so the lease never runs out."""
        while seconds > 0:
            step = min(seconds, self.heartbeat_every)
            self.sleep(step)
            seconds -= step
            if seconds > 0:
                self._beat()


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff for the `attempt`-th retry (1-based), capped and jittered: the one
    formula for in-process retries and for a task rescheduling itself."""
    delay = min(cap, base * 2 ** (attempt - 1))
    return delay * (0.5 + random.random() / 2)  # jitter spreads concurrent retries


__all__ = ["HsmThrottled", "HsmUnavailable", "RetryPolicy"]
