"""Time to takeover: kill the worker inside a request's HSM call, then measure from the kill
to the start of the request's next attempt (the target: lease + one sweep period)."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone


@dataclass(frozen=True)
class Kill:
    """A kill inside a request's attempt: which request, which attempt, how and when."""

    request_id: object
    attempt: int
    whole_worker: bool
    at: datetime


def running_attempt(change, *, timeout: float):
    """The request's RUNNING attempt once a worker has claimed it; None at the timeout or
    once the request has finished without our seeing it run."""
    from approvals.models import FINISHED_STATES, AttemptOutcome, ChangeRequest, Execution

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = Execution.objects.filter(request=change, outcome=AttemptOutcome.RUNNING).first()
        if found is not None:
            return found
        if ChangeRequest.objects.filter(pk=change.pk, state__in=FINISHED_STATES).exists():
            return None
        time.sleep(0.05)
    return None


def kill_mid_call(stack, change, *, whole: bool, timeout: float) -> Kill | str:
    """Wait for `change`'s attempt, let it enter its (3 s) HSM call, then SIGKILL the pool
    process running it, or its whole worker (restarted). A string says why it could not."""
    attempt = running_attempt(change, timeout=timeout)
    if attempt is None:
        return f"{change.pk}: no running attempt seen (finished first, or {timeout:.0f} s passed)"
    time.sleep(0.5)  # the find_key answer is back: the create call is in flight now
    worker = stack.worker_holding(attempt.task_id)
    if worker is None:
        return f"{change.pk}: task {attempt.task_id} not found on any worker"
    at = timezone.now()
    if whole:
        stack.kill_worker(worker)
    else:
        # concurrency 1: the worker's one pool process is the one in the call
        os.kill(worker.child_pids()[0], signal.SIGKILL)
    return Kill(request_id=change.pk, attempt=attempt.attempt, whole_worker=whole, at=at)


def takeover_seconds(kill: Kill) -> tuple[float, float] | None:
    """(seconds from the kill to the next attempt's start, seconds from the killed attempt's
    last heartbeat to it), None if no next attempt started."""
    from approvals.models import Execution

    attempts = Execution.objects.filter(request_id=kill.request_id, attempt__gte=kill.attempt)
    killed, following = [*attempts.order_by("attempt"), None][:2]
    if following is None:
        return None
    return (
        (following.started_at - kill.at).total_seconds(),
        (following.started_at - killed.heartbeat_at).total_seconds(),
    )


def describe(kill: Kill | str) -> str:
    """One line for the report: the takeover time against its target."""
    from django.conf import settings

    from bench.chaos_stack import TIMING

    if isinstance(kill, str):
        return f"takeover not measured: {kill}"
    target = settings.EXECUTION_LEASE_SECONDS + float(TIMING["SWEEP_SECONDS"])
    how = "whole worker" if kill.whole_worker else "pool process"
    seconds = takeover_seconds(kill)
    if seconds is None:
        return f"takeover after {how} kill of {kill.request_id}: no next attempt"
    verdict = "met" if seconds[0] <= target else "MISSED"
    return (
        f"takeover after {how} kill of {kill.request_id} (attempt {kill.attempt}): "
        f"{seconds[0]:.1f} s (target <= {target:.0f} s: {verdict}); next attempt began "
        f"{seconds[1]:.1f} s after the killed one's last heartbeat "
        f"(HSM_SETTLE_SECONDS {settings.HSM_SETTLE_SECONDS})"
    )
