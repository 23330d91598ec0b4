"""The processes a chaos run needs, and the harm it does to them.

A private redis-server (stopping it empties it: a broker outage that loses every queued
message), the HSM emulator with Keywarden's role and an out-of-band operator, two execution
workers, a sweeper worker on its own queue (as in docker-compose.yml) and a beat-equivalent
thread that publishes `approvals.sweep` every SWEEP_SECONDS, as `celery beat` would. Emails
queue up unread in the private Redis: no notifier runs, to spare the shared cores.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

# Execution timing as in `make test`, so leases, re-dispatch and sweeps happen in seconds.
# RETRY_LOST_AFTER_SECONDS is scaled like the others (600 s against a 120 s lease).
TIMING = {
    "EXECUTION_LEASE_SECONDS": "8",
    "HSM_TIMEOUT_SECONDS": "5",
    "REDISPATCH_AFTER_SECONDS": "2",
    "SWEEP_SECONDS": "2",
    "RETRY_LOST_AFTER_SECONDS": "40",
}
PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


class Stack:
    """Everything a scenario runs against; `start()` after django.setup()."""

    def __init__(self, workdir: Path, broker) -> None:
        self.workdir = workdir
        self.broker = broker  # tests.support.redis.RedisServer, already started
        self.hsm = None
        self.workers: list = []
        self.sweeper = None
        self.sweeps = {"sent": 0, "missed": 0}
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    @property
    def sweep_seconds(self) -> float:
        from django.conf import settings

        return float(settings.CELERY_BEAT_SCHEDULE["approvals-sweep"]["schedule"])

    def start(self) -> Stack:
        from django.conf import settings

        from tests.support.hsm import start_test_hsm
        from tests.support.worker import LiveWorker

        self.hsm = start_test_hsm(self.workdir / "hsm")
        # An explicit broker URL also keeps LiveWorker.start() from purging the queue when a
        # killed worker is restarted: a restart must not throw other requests' messages away.
        env = {"CELERY_BROKER_URL": self.broker.url, "CELERY_RESULT_BACKEND": self.broker.url}
        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        self.workers = [
            LiveWorker(log_dir=self.workdir / f"worker{n}", concurrency=1, env=env, queues=(queue,))
            for n in range(2)
        ]
        self.sweeper = LiveWorker(
            log_dir=self.workdir / "sweeper",
            concurrency=1,
            env=env,
            queues=(settings.CELERY_SWEEP_QUEUE,),
        )
        for worker in (*self.workers, self.sweeper):
            worker.log_path.parent.mkdir(parents=True, exist_ok=True)
            worker.start()
        self._beat = threading.Thread(target=self._beat_loop, name="beat", daemon=True)
        self._beat.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(10)
        for worker in (*self.workers, self.sweeper):
            if worker is not None:
                worker.stop()
        if self.hsm is not None:
            self.hsm.process.stop()

    def _beat_loop(self) -> None:
        """What `celery beat` does with approvals-sweep: publish it every SWEEP_SECONDS."""
        from kombu.exceptions import OperationalError

        from approvals import tasks

        while not self._stop.wait(self.sweep_seconds):
            try:
                tasks.sweep_task.apply_async(retry=True, retry_policy=PUBLISH_RETRY)
                self.sweeps["sent"] += 1
            except (OperationalError, OSError):
                self.sweeps["missed"] += 1  # the broker is down: beat would miss it too

    # --- harm -----------------------------------------------------------------------------------
    def kill_pool_child(self, worker, rng: random.Random) -> int | None:
        """SIGKILL one pool process of `worker` (its parent forks a new one). Returns the pid."""
        children = worker.child_pids()
        if not children:
            return None
        pid = rng.choice(children)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return pid

    def kill_worker(self, worker) -> None:
        """SIGKILL a whole worker (parent and pool), then start a new one in its place."""
        worker.kill()
        self.start_worker(worker)

    def start_worker(self, worker, tries: int = 3) -> None:
        """Start `worker`, trying again when the readiness ping ran into a connection that a
        broker outage left stale (redis-py reconnects on the next try)."""
        from kombu.exceptions import OperationalError
        from redis.exceptions import RedisError

        for number in range(1, tries + 1):
            try:
                worker.start()
                return
            except (RedisError, OperationalError, OSError):
                worker.kill()  # never leave a half-started worker behind
                if number == tries:
                    raise
                self.fresh_control_app(worker)

    def broker_outage(self, seconds: float) -> None:
        """Stop Redis (it keeps nothing: every queued and unacknowledged message is gone),
        wait, and start it again empty on the same port."""
        self.broker.stop()
        time.sleep(seconds)
        self.broker.start()
        # The control apps' pooled connections point at the old server; the portal app
        # reconnects through its publish retries.
        for worker in (*self.workers, self.sweeper):
            self.fresh_control_app(worker)

    def fresh_control_app(self, worker) -> None:
        """A new app (so new connections) for pinging and inspecting `worker`."""
        from celery import Celery

        app = Celery("keywarden-chaos-control", set_as_current=False)
        app.conf.broker_read_url = app.conf.broker_write_url = self.broker.url
        worker.control_app = app

    def ensure_healthy(self) -> None:
        """After a scenario: the broker up and every worker running, for the next one."""
        if self.broker.process is None or self.broker.process.poll() is not None:
            self.broker.start()
        for worker in (*self.workers, self.sweeper):
            if worker.process is None or worker.process.poll() is not None:
                self.start_worker(worker)

    def worker_holding(self, task_id: str):
        """The execution worker that received task `task_id` (from its log: asking the
        workers over the broker answers too late to catch a 3 s call), or None."""
        for worker in self.workers:
            if f"[{task_id}] received" in worker.log_path.read_text(errors="replace"):
                return worker
        return None

    def log_tails(self, lines: int = 15) -> str:
        return "\n".join(
            f"--- {w.log_path}\n{w.log_tail(lines)}" for w in (*self.workers, self.sweeper)
        )
