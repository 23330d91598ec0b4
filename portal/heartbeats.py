"""Worker and beat liveness: heartbeats each process writes, read by /readyz, /metrics and the
admin home.

Every Celery worker writes its row from a bootstep timer in its main process (portal.celery)
and beat from its scheduler's tick (HeartbeatScheduler), every WORKER_HEARTBEAT_SECONDS. A
process that is stopped, hung or gone stops writing; after HEARTBEAT_STALE_PERIODS periods its
row is stale. The rows live in the database, which every process already shares (the demo's
SQLite too). Time comes in as `now`.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections
from django.utils import timezone
from django_celery_beat.schedulers import DatabaseScheduler

from approvals.models import ChangeRequest
from approvals.selectors import oldest_approved_waiting
from core.errors import DomainError
from portal.models import Heartbeat, ProcessKind

logger = logging.getLogger(__name__)
# Rows of processes silent this long are deleted (a restarted container comes back renamed).
FORGET_AFTER = timedelta(days=1)


class ProcessesDown(DomainError):
    """No live worker for some queue, or no live beat."""


def stale_after() -> timedelta:
    """How long a heartbeat stands for a live process."""
    return timedelta(seconds=settings.WORKER_HEARTBEAT_SECONDS * settings.HEARTBEAT_STALE_PERIODS)


def required_queues() -> tuple[str, ...]:
    """The queues that need a live worker (executions and their re-sends, mail, the sweeper,
    periodic work)."""
    return tuple(settings.CELERY_WORKER_QUEUES)


def record_heartbeat(
    *, kind: str, name: str, now: datetime, queues: list[str] | None = None, pid: int = 0
) -> None:
    """Upsert the process's row with `now` (its first beat also sets started_at)."""
    Heartbeat.objects.update_or_create(
        kind=kind,
        name=name,
        defaults={"beat_at": now, "queues": sorted(queues or []), "pid": pid or os.getpid()},
        create_defaults={
            "beat_at": now,
            "started_at": now,
            "queues": sorted(queues or []),
            "pid": pid or os.getpid(),
        },
    )


def forget_heartbeat(*, kind: str, name: str) -> None:
    """A process shutting down cleanly removes its row: it is gone, not late."""
    Heartbeat.objects.filter(kind=kind, name=name).delete()


@dataclass(frozen=True)
class ProcessBeat:
    kind: str
    name: str
    queues: list[str]
    age_seconds: float
    is_live: bool


def process_beats(*, now: datetime) -> list[ProcessBeat]:
    """Every known worker and beat, newest beat first, with its age at `now`."""
    limit = stale_after()
    return [
        ProcessBeat(
            kind=row.kind,
            name=row.name,
            queues=list(row.queues),
            age_seconds=max((now - row.beat_at).total_seconds(), 0.0),
            is_live=now - row.beat_at <= limit,
        )
        for row in Heartbeat.objects.filter(beat_at__gte=now - FORGET_AFTER).order_by(
            "-beat_at", "name"
        )
    ]


def check_workers(*, now: datetime) -> str:
    """Every required queue has a worker whose heartbeat is fresh. Raises ProcessesDown naming
    the queues without one."""
    beats = [beat for beat in process_beats(now=now) if beat.kind == ProcessKind.WORKER]
    live = [beat for beat in beats if beat.is_live]
    served = {queue for beat in live for queue in beat.queues}
    missing = [queue for queue in required_queues() if queue not in served]
    if missing:
        raise ProcessesDown(
            f"no worker heartbeat within {_seconds(stale_after())} s for queue(s) "
            f"{', '.join(missing)} ({len(live)} of {len(beats)} known workers live)"
        )
    return f"{len(live)} worker(s) live, every queue served"


def check_beat(*, now: datetime) -> str:
    """Beat's heartbeat is fresh. Raises ProcessesDown otherwise."""
    beats = [beat for beat in process_beats(now=now) if beat.kind == ProcessKind.BEAT]
    if not any(beat.is_live for beat in beats):
        last = f"last {_seconds(beats[0].age_seconds)} s ago" if beats else "never seen"
        raise ProcessesDown(f"no beat heartbeat within {_seconds(stale_after())} s ({last})")
    return f"beat live, last tick {_seconds(beats[0].age_seconds)} s ago"


def _seconds(value: timedelta | float) -> str:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    return f"{seconds:.0f}"


@dataclass(frozen=True)
class Liveness:
    """The admin home's card: every known worker and beat, and the approved request that has
    waited longest for a worker (late past APPROVED_WAIT_WARNING_SECONDS)."""

    workers: list[ProcessBeat]
    beats: list[ProcessBeat]
    oldest_approved: ChangeRequest | None
    oldest_approved_wait_seconds: float
    warning_seconds: int

    @property
    def is_waiting_late(self) -> bool:
        return self.oldest_approved_wait_seconds > self.warning_seconds


def liveness(*, now: datetime) -> Liveness:
    beats = process_beats(now=now)
    oldest = oldest_approved_waiting()
    waited = 0.0
    if oldest is not None and oldest.decided_at is not None:
        waited = max((now - oldest.decided_at).total_seconds(), 0.0)
    return Liveness(
        workers=[beat for beat in beats if beat.kind == ProcessKind.WORKER],
        beats=[beat for beat in beats if beat.kind == ProcessKind.BEAT],
        oldest_approved=oldest,
        oldest_approved_wait_seconds=waited,
        warning_seconds=settings.APPROVED_WAIT_WARNING_SECONDS,
    )


def beat_worker(*, name: str, queues: list[str]) -> None:
    """One worker heartbeat (the bootstep's timer, in the worker's main process). The
    connection is closed again at once: the main process holds none between beats (its pool
    processes keep theirs), and a database outage shows as a stale worker, logged, not a crash."""
    try:
        record_heartbeat(kind=ProcessKind.WORKER, name=name, queues=queues, now=timezone.now())
    except Exception:  # the timer must keep running through an outage
        logger.warning("heartbeat.write_failed", extra={"kind": "worker"}, exc_info=True)
    finally:
        connections.close_all()


class HeartbeatScheduler(DatabaseScheduler):
    """django-celery-beat's scheduler, writing beat's heartbeat at most once a period on its
    tick (beat wakes at least every CELERY_BEAT_MAX_LOOP_INTERVAL = the period)."""

    _beaten_at: float | None = None

    def tick(self, *args, **kwargs):
        if self._beaten_at is None or time.monotonic() - self._beaten_at >= (
            settings.WORKER_HEARTBEAT_SECONDS
        ):
            self._beaten_at = time.monotonic()
            self._beat(now=timezone.now())
        return super().tick(*args, **kwargs)

    def _beat(self, *, now: datetime) -> None:
        # No close_old_connections() here: the scheduler's own schedule_changed() runs it.
        try:
            record_heartbeat(kind=ProcessKind.BEAT, name=f"beat@{socket.gethostname()}", now=now)
            Heartbeat.objects.filter(beat_at__lt=now - FORGET_AFTER).delete()
        except Exception:  # beat keeps scheduling through a database outage
            logger.warning("heartbeat.write_failed", extra={"kind": "beat"}, exc_info=True)
