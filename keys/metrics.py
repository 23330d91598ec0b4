"""Application counters shared by every process: HSM calls, errors and 429s, execution latency.

Workers make the HSM calls and finish the executions, the web process answers `/metrics`: the
counts live in Redis (METRICS_REDIS_URL, one hash per family, HINCRBY), so every worker on every
host adds to the same numbers and a scrape of any web process reads them all. portal.metrics
exposes them. Without a Redis (the demo's embedded broker) nothing is counted. Counting never
fails the call it counts: a Redis error is logged and dropped.

Counting costs no round trip on the counted path: each process adds up its counts in memory
and a background thread writes them every METRICS_FLUSH_SECONDS, one pipeline for all (a Redis
round trip per HSM call was about 1 ms of each execution). A process killed outright loses at
most that long's counts; 0 writes each count at once.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from functools import cache, partial

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.db import transaction
from django.dispatch import receiver

from core.batching import keep_per_process

logger = logging.getLogger(__name__)

# Seconds from approval to the end of execution (the histogram's upper bounds; +Inf implied).
EXECUTION_SECONDS_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
HSM_CALLS, HSM_ERRORS, EXECUTION_SECONDS = "hsm_calls", "hsm_errors", "execution_seconds"
SEPARATOR = "|"


@dataclass(frozen=True)
class Histogram:
    """One labelled series of the execution histogram: cumulative bucket counts, sum, count."""

    labels: tuple[str, ...]
    buckets: list[tuple[str, float]]  # ("1.0", cumulative count) … ("+Inf", count)
    total: float


class MetricsStore:
    """Counters in one Redis under `prefix` (one test run's or one deployment's), written every
    `flush_seconds` (0: at once)."""

    def __init__(self, client: redis.Redis, *, prefix: str, flush_seconds: float = 0.0) -> None:
        self._redis = client
        self._prefix = prefix
        self._flush_seconds = flush_seconds
        self.reset_after_fork()
        keep_per_process(self)

    @classmethod
    def from_url(cls, url: str, *, prefix: str, flush_seconds: float = 0.0) -> MetricsStore:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        return cls(client, prefix=prefix, flush_seconds=flush_seconds)

    def _key(self, family: str) -> str:
        return f"{self._prefix}{family}"

    def increment(self, family: str, *labels: str, amount: float = 1) -> None:
        self._add({(self._key(family), _field(labels)): amount})

    def observe(self, family: str, labels: tuple[str, ...], seconds: float) -> None:
        """Add one value to a histogram: its own bucket (not cumulative), the sum and count."""
        upper = next((b for b in EXECUTION_SECONDS_BUCKETS if seconds <= b), math.inf)
        key = self._key(family)
        self._add(
            {
                (key, _field((*labels, f"le={upper}"))): 1,
                (key, _field((*labels, "sum"))): seconds,
                (key, _field((*labels, "count"))): 1,
            }
        )

    def flush(self) -> None:
        """Write this process's counts not written yet (one pipeline)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        self._write(pending)

    def close(self) -> None:
        """Write what is pending and stop the flusher (a store replaced by a new one)."""
        self._stop.set()
        self.flush()

    def _add(self, amounts: dict[tuple[str, str], float]) -> None:
        if self._flush_seconds <= 0:
            self._write(amounts)
            return
        with self._lock:
            for name, amount in amounts.items():
                self._pending[name] = self._pending.get(name, 0) + amount
            if self._flusher is None:
                self._flusher = threading.Thread(
                    target=self._flush_forever, name="metrics-flush", daemon=True
                )
                self._flusher.start()

    def _flush_forever(self) -> None:
        while not self._stop.wait(self._flush_seconds):
            self.flush()

    def reset_after_fork(self) -> None:
        """A fresh buffer, and no flusher yet (in a forked child, the parent's thread is gone)."""
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], float] = {}
        self._flusher: threading.Thread | None = None
        self._stop = threading.Event()

    def _write(self, amounts: dict[tuple[str, str], float]) -> None:
        if not amounts:
            return

        def write():
            pipe = self._redis.pipeline(transaction=True)
            for (key, field), amount in amounts.items():
                pipe.hincrbyfloat(key, field, amount)
            pipe.execute()

        self._safely(write)

    def counters(self, family: str) -> dict[tuple[str, ...], float]:
        """Every labelled value of a counter family, this process's unwritten counts included
        (raises redis.RedisError)."""
        self.flush()
        raw = self._redis.hgetall(self._key(family))
        return {
            tuple(field.decode().split(SEPARATOR)): float(value) for field, value in raw.items()
        }

    def histograms(self, family: str) -> list[Histogram]:
        """Every labelled series of a histogram family, buckets made cumulative."""
        series: dict[tuple[str, ...], dict[str, float]] = {}
        for fields, value in self.counters(family).items():
            series.setdefault(fields[:-1], {})[fields[-1]] = value
        found = []
        for labels, values in sorted(series.items()):
            running, buckets = 0.0, []
            for bound in (*EXECUTION_SECONDS_BUCKETS, math.inf):
                running += values.get(f"le={bound}", 0)
                buckets.append(("+Inf" if bound == math.inf else str(bound), running))
            found.append(Histogram(labels, buckets, values.get("sum", 0.0)))
        return found

    def reset(self) -> None:
        """Forget every count under this prefix, this process's unwritten ones too (tests, and a
        deliberate reset)."""
        with self._lock:
            self._pending = {}
        self._redis.delete(*(self._key(f) for f in (HSM_CALLS, HSM_ERRORS, EXECUTION_SECONDS)))

    def _safely(self, write) -> None:
        try:
            write()
        except redis.RedisError:
            logger.warning("metrics.write_failed", exc_info=True)


def _field(labels: tuple[str, ...]) -> str:
    return SEPARATOR.join(labels)


@cache
def metrics_store() -> MetricsStore | None:
    """The process's store, built on first use from settings; None when no Redis is set."""
    if not settings.METRICS_REDIS_URL:
        return None
    return MetricsStore.from_url(
        settings.METRICS_REDIS_URL,
        prefix=settings.METRICS_REDIS_PREFIX,
        flush_seconds=settings.METRICS_FLUSH_SECONDS,
    )


@receiver(setting_changed)
def _forget_store(*, setting: str, **_kwargs) -> None:
    if setting.startswith("METRICS_"):
        if metrics_store.cache_info().currsize and (store := metrics_store()) is not None:
            store.close()  # the store built from the old settings: its counts, then its thread
        metrics_store.cache_clear()


def count_hsm_call(operation: str) -> None:
    """One try sent to the HSM (each retry counts)."""
    if (store := metrics_store()) is not None:
        store.increment(HSM_CALLS, operation)


def count_hsm_error(operation: str, error: Exception | None) -> None:
    """One try that failed with a gateway error (HsmThrottled is a 429); None: not an HSM
    failure, not counted."""
    if error is not None and (store := metrics_store()) is not None:
        store.increment(HSM_ERRORS, operation, type(error).__name__)


def observe_execution(*, operation: str, outcome: str, seconds: float) -> None:
    """One request finished `seconds` after its approval."""
    if (store := metrics_store()) is not None:
        store.observe(EXECUTION_SECONDS, (operation, outcome), max(seconds, 0.0))


def execution_finished(change) -> None:
    """In the transaction that ends a request (SUCCEEDED or FAILED): observe approval → end
    once it commits, so a rolled-back or fenced record counts nothing."""
    if change.decided_at is not None and change.finished_at is not None:
        seconds = (change.finished_at - change.decided_at).total_seconds()
        transaction.on_commit(
            partial(
                observe_execution, operation=change.operation, outcome=change.state, seconds=seconds
            )
        )
