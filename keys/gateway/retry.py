"""Bounded retries with exponential backoff that honours Retry-After.

The SDK's own retry policy is switched off (retry_total=0): it sleeps any Retry-After however
long, and cannot tell which of our operations are safe to repeat after a broken connection.
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
    raised at once so the caller (a Celery task) can reschedule without holding a worker."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def should_retry(self, error: HsmError, attempt: int, *, idempotent: bool) -> bool:
        if attempt >= self.max_attempts or not isinstance(error, HsmTransientError):
            return False
        if isinstance(error, HsmUnavailable) and error.maybe_applied and not idempotent:
            return False  # the HSM may have done it: the caller must look before repeating
        return error.retry_after is None or error.retry_after <= self.max_retry_after

    def delay(self, error: HsmError, attempt: int) -> float:
        if isinstance(error, HsmTransientError) and error.retry_after is not None:
            return error.retry_after
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return backoff * (0.5 + random.random() / 2)  # jitter spreads concurrent retries

    def run(self, call: Callable[[], object], *, idempotent: bool, translate) -> object:
        """Run `call`, translating SDK errors with `translate` and retrying transient ones."""
        attempt = 0
        while True:
            attempt += 1
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
                self.sleep(self.delay(error, attempt))


__all__ = ["HsmThrottled", "HsmUnavailable", "RetryPolicy"]
