"""Long-running backup/restore jobs: one at a time, run on a worker thread, status persisted.

Like the service's, a job stays ``InProgress`` for a while (``duration`` seconds of real time,
``--job-seconds``) even though the copy itself takes milliseconds here, so a client that resumes
its poller from a continuation token sees it in progress. The runner is busy from the moment a
start is accepted until the final status is stored; any failure on the way frees it again.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from hsm_emulator.clock import Clock
from hsm_emulator.errors import ApiError, conflict
from hsm_emulator.store import Store

LOGGER = logging.getLogger("hsm_emulator.jobs")


class JobFailed(Exception):
    """A job failure reported in the status document's ``error`` (code + message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class JobRunner:
    """Starts jobs and records their status documents in the store."""

    def __init__(self, store: Store, clock: Clock, *, duration: float = 0.0) -> None:
        self._store = store
        self._clock = clock
        self._duration = duration
        self._lock = threading.Lock()
        self._running: str | None = None

    def start(
        self, kind: str, work: Callable[[], dict[str, Any]], *, extra: dict[str, Any]
    ) -> dict[str, Any]:
        """Record an InProgress job and run ``work`` in the background; 409 if one is running."""
        with self._lock:
            if self._running is not None:
                raise conflict(f"Another backup or restore operation ({self._running}) is running.")
            job_id = uuid.uuid4().hex
            self._running = job_id
        try:
            document = {
                "status": "InProgress",
                "statusDetails": None,
                "error": None,
                "startTime": self._clock.now(),
                "endTime": None,
                "jobId": job_id,
                **extra,
            }
            self._store.admin.put_job({**document, "kind": kind})
            threading.Thread(
                target=self._run,
                args=(document, kind, work, time.monotonic() + self._duration),
                name=f"job-{job_id}",
                daemon=True,
            ).start()
        except BaseException:
            # Nothing will ever finish this job: free the runner, or every later start is a 409.
            self._free(job_id)
            raise
        return document

    def _free(self, job_id: str) -> None:
        with self._lock:
            if self._running == job_id:
                self._running = None

    @property
    def running(self) -> str | None:
        """The id of the job in progress, or None."""
        with self._lock:
            return self._running

    def _run(
        self,
        document: dict[str, Any],
        kind: str,
        work: Callable[[], dict[str, Any]],
        finish_at: float,
    ) -> None:
        final = dict(document, kind=kind)
        try:
            final.update(work(), status="Succeeded")
        except JobFailed as failure:
            final.update(
                status="Failed",
                statusDetails=failure.message,
                error={"code": failure.code, "message": failure.message, "innererror": None},
            )
        except Exception as exc:
            # The status document is the only channel back to the caller; keep the trace too.
            LOGGER.exception("job.failed")
            final.update(
                status="Failed",
                statusDetails=str(exc),
                error={"code": "InternalServerError", "message": str(exc), "innererror": None},
            )
        try:
            time.sleep(max(0.0, finish_at - time.monotonic()))
            final["endTime"] = self._clock.now()
            self._store.admin.put_job(final)
        except Exception:
            LOGGER.exception("job.status_not_stored")
        finally:
            self._free(document["jobId"])

    def status(self, job_id: str, kind: str) -> dict[str, Any]:
        """The job's status document without internal fields; 404 for unknown jobs."""
        document = self._store.admin.job(job_id)
        if document is None or document.get("kind") != kind:
            raise ApiError(404, "JobNotFound", f"The {kind} job {job_id} was not found.")
        document.pop("kind")
        return document
