"""The Celery application: configured from Django settings (CELERY_* names)."""

import logging
import os
import subprocess
import sys
from functools import partial

from celery import Celery, bootsteps, signals
from celery.signals import setup_logging, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("keywarden")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class WorkerHeartbeat(bootsteps.StartStopStep):
    """Writes this worker's heartbeat (portal.heartbeats) every WORKER_HEARTBEAT_SECONDS from
    the main process's timer: a stopped or hung worker stops beating, even with idle children."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **_kwargs) -> None:
        self.timer_entry = None

    def start(self, worker) -> None:
        from django.conf import settings

        from portal.heartbeats import beat_worker

        queues = sorted(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)
        beat = partial(beat_worker, name=worker.hostname, queues=queues)
        beat()
        self.timer_entry = worker.timer.call_repeatedly(
            settings.WORKER_HEARTBEAT_SECONDS, beat, priority=10
        )

    def stop(self, worker) -> None:
        from portal.heartbeats import forget_heartbeat
        from portal.models import ProcessKind

        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None
        try:
            forget_heartbeat(kind=ProcessKind.WORKER, name=worker.hostname)
        except Exception:  # shutting down through a database outage: the row goes stale
            logging.getLogger(__name__).warning("heartbeat.forget_failed", exc_info=True)


app.steps["worker"].add(WorkerHeartbeat)


class AuditSealerStep(bootsteps.StartStopStep):
    """Every worker starts the audit sealer (`manage.py audit_sealer`) as a child process when
    it starts, and stops it when it stops: wherever workers run (docker-compose, the test
    stack, the benchmarks), one sealer leads and the others stand by. It exits by itself when
    the worker is killed. Off with AUDIT_SEALER_IN_WORKER=false; nothing on SQLite."""

    def __init__(self, worker, **kwargs) -> None:
        super().__init__(worker, **kwargs)
        self.process: subprocess.Popen | None = None

    def start(self, worker) -> None:
        from django.conf import settings
        from django.db import connection

        if not settings.AUDIT_SEALER_IN_WORKER or connection.vendor != "postgresql":
            return
        command = [sys.executable, str(settings.BASE_DIR / "manage.py"), "audit_sealer"]
        self.process = subprocess.Popen(  # noqa: S603 - our own command, no outside input
            [*command, "--exit-with-parent"], cwd=settings.BASE_DIR
        )

    def stop(self, worker) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


app.steps["worker"].add(AuditSealerStep)


@worker_init.connect
def _prepare_embedded_broker(**_kwargs) -> None:
    """The filesystem broker needs its folders before the first message moves."""
    from portal.broker import ensure_embedded_broker_dirs

    ensure_embedded_broker_dirs()


@worker_init.connect
def _keep_database_connections(**_kwargs) -> None:
    """Keep each worker process's database connection across tasks.

    Celery's Django fixup closes every connection before and after each task, so every task
    paid a new PostgreSQL connection. Instead, around each task, Django's own rule for the
    request cycle: `close_old_connections` closes only a connection that is unusable (after an
    error) or older than CONN_MAX_AGE, and CONN_HEALTH_CHECKS makes the first query of the next
    task reconnect when the database was restarted meanwhile. The fixup's other duties (closing
    inherited connections in forked children, beat) stay. Runs after the fixup's own
    worker_init receiver, which connects the handlers replaced here."""
    for fixup in app._fixups or ():
        worker_fixup = getattr(fixup, "worker_fixup", None)
        if worker_fixup is not None:
            signals.task_prerun.disconnect(worker_fixup.on_task_prerun)
            signals.task_postrun.disconnect(worker_fixup.on_task_postrun)
    signals.task_prerun.connect(_close_old_connections, weak=False)
    signals.task_postrun.connect(_close_old_connections, weak=False)


def _close_old_connections(**_kwargs) -> None:
    from django.db import close_old_connections

    close_old_connections()


@setup_logging.connect
def _use_django_logging(**_kwargs) -> None:
    """Workers and beat log through Django's LOGGING (structured), not Celery's own setup."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@signals.worker_process_shutdown.connect
def _send_what_is_batched(**_kwargs) -> None:
    """A pool child exits without running atexit handlers: what its per-process buffers hold
    (notifications to queue, metrics counts) is sent first."""
    from core.batching import flush_all

    flush_all()


# How long a thread of a pool child may hold the GIL while another waits for it (Python's
# default is 5 ms). A child's main thread waits on PostgreSQL while its helper threads (the
# early HSM read, the notification gatherer, the metrics flusher) run SDK and JSON code: with
# the default, each answer from the database could wait up to 5 ms for its thread to run again.
WORKER_GIL_SWITCH_SECONDS = 0.001


@signals.worker_process_init.connect
def _short_gil_turns(**_kwargs) -> None:
    """Every pool child passes the GIL between its threads every WORKER_GIL_SWITCH_SECONDS."""
    sys.setswitchinterval(WORKER_GIL_SWITCH_SECONDS)
