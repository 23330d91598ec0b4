"""/readyz against a real Celery worker of the test's own: stopped with SIGSTOP, it is reported
within one heartbeat period of its heartbeat going stale, and live again once continued."""

import os
import signal
import time
from datetime import timedelta

import pytest

from portal.models import Heartbeat, ProcessKind
from tests.support.worker import LiveWorker

pytestmark = pytest.mark.django_db(transaction=True)
PERIOD_SECONDS = 1  # WORKER_HEARTBEAT_SECONDS of this test's worker and web process


@pytest.fixture
def own_worker(settings, tmp_path):
    """A worker on queues of its own (the shared live worker never serves them), beating every
    second; the web side (this process) reads heartbeats against the same queues."""
    base = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-liveness"
    settings.CELERY_WORKER_QUEUES = tuple(
        f"{base}{suffix}" for suffix in ("", "-recovery", "-notify", "-sweep", "-periodic")
    )
    settings.WORKER_HEARTBEAT_SECONDS, settings.HEARTBEAT_STALE_PERIODS = PERIOD_SECONDS, 3
    worker = LiveWorker(
        log_dir=tmp_path,
        concurrency=1,
        env={"CELERY_QUEUE": base, "WORKER_HEARTBEAT_SECONDS": str(PERIOD_SECONDS)},
        queues=settings.CELERY_WORKER_QUEUES,
    )
    worker.start()
    yield worker
    worker.kill()  # SIGKILL ends it stopped or not, and faster than a warm shutdown


def workers_check(client) -> dict:
    return client.get("/readyz").json()["checks"]["workers"]


def poll(client, status: str, *, timeout: float) -> float:
    """Seconds until /readyz's workers check reads `status` (fails after `timeout`)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if workers_check(client)["status"] == status:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"workers check not {status!r} within {timeout}s: {workers_check(client)}")


def test_readyz_reports_a_stopped_worker_within_one_heartbeat_period(
    own_worker, client, admin_user, settings
):
    # given: the worker is beating and /readyz sees it
    settings.HSM_URL = "https://127.0.0.1:9"  # the HSM check fails fast; only workers matter
    client.force_login(admin_user)
    poll(client, "ok", timeout=5 * PERIOD_SECONDS)
    name = own_worker.hostname.replace("%h", os.uname().nodename)
    assert Heartbeat.objects.filter(kind=ProcessKind.WORKER, name=name).exists()
    # when: the whole worker (main process and pool) is stopped
    os.killpg(own_worker.process.pid, signal.SIGSTOP)
    stopped_at = time.monotonic()
    poll(client, "fail", timeout=10 * PERIOD_SECONDS)
    reported_after, reported_at = time.monotonic() - stopped_at, time.time()
    # then: no beat after the stop, and the report came within one period of going stale
    last_beat = Heartbeat.objects.get(kind=ProcessKind.WORKER, name=name).beat_at
    stale_at = last_beat + timedelta(seconds=3 * PERIOD_SECONDS)
    assert reported_after <= 3 * PERIOD_SECONDS + PERIOD_SECONDS
    assert workers_check(client)["detail"].startswith(
        "ProcessesDown: no worker heartbeat within 3 s"
    )
    assert 0 <= reported_at - stale_at.timestamp() <= PERIOD_SECONDS
    # and: continued, it beats again and /readyz is green within two periods
    os.killpg(own_worker.process.pid, signal.SIGCONT)
    assert poll(client, "ok", timeout=10 * PERIOD_SECONDS) <= 2 * PERIOD_SECONDS
