"""Pacing across real Celery workers against the emulator enforcing the service limits: no
window ever gets more calls than configured, a create in a rotation storm has tokens of its
own, and a long wait or Retry-After reschedules the task instead of holding its worker."""

from __future__ import annotations

import time
import uuid

import pytest
from django.conf import settings

from approvals.models import ChangeRequest, Execution
from keys.gateway import Pacer
from tests.approvals.conftest import approve, submit, wait_for_state
from tests.factories import ManagedKeyFactory
from tests.support.worker import LiveWorker

pytestmark = pytest.mark.django_db(transaction=True)
WINDOW = 3.0
LIMITS = {"key_manage": 4, "key_create": 2}
ROTATIONS = 12


@pytest.fixture
def paced_workers(tmp_path, hsm, settings):
    """Two worker processes (2 slots each) on a queue of their own, pacing in the test Redis
    to LIMITS per WINDOW (the emulator enforces the same once `rotation_storm` switches it
    on); a transient-error budget of one attempt, so a paced deferral that used it would fail
    its request."""
    queue = f"pacing-{uuid.uuid4().hex[:8]}"
    settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_RECOVERY_QUEUE = queue, f"{queue}-rec"
    env = {
        "CELERY_QUEUE": queue,
        "HSM_PACING_REDIS_URL": settings.CELERY_BROKER_URL,
        "HSM_SERVICE_LIMIT_WINDOW_SECONDS": str(WINDOW),
        "HSM_SERVICE_LIMITS": ",".join(f"{name}={n}" for name, n in LIMITS.items()),
        "HSM_PACING_MAX_WAIT_SECONDS": "0.5",
        "HSM_PACING_MARGIN_SECONDS": "0.1",
        "MAX_TRANSIENT_ATTEMPTS": "1",
    }
    queues = (queue, f"{queue}-rec", f"{queue}-notify")
    workers = []
    for n in range(2):
        (tmp_path / f"w{n}").mkdir()
        workers.append(
            LiveWorker(log_dir=tmp_path / f"w{n}", concurrency=2, env=env, queues=queues)
        )
    limits = {name: 10_000 for name in settings.HSM_SERVICE_LIMITS} | LIMITS
    Pacer.from_url(settings.CELERY_BROKER_URL, limits=limits, window=WINDOW, max_wait=0).forget(
        hsm.process.url
    )
    for worker in workers:
        worker.start()
    yield workers
    hsm.process.set_service_limits(enabled=False)
    for worker in workers:
        worker.wait_idle()
        worker.stop()


def rotation_storm(requester, custodians, hsm, count):
    """`count` keys in the HSM and the inventory; then the emulator enforces LIMITS and
    their rotations are approved at once."""
    names = [f"pay-storm-{n:02d}" for n in range(count)]
    for name in names:
        hsm.operator.create_key(name, kty="EC-HSM", curve="P-256")
        ManagedKeyFactory(name=name, team=requester.memberships.get().team)
    hsm.process.set_service_limits(enabled=True, window_seconds=WINDOW, limits=LIMITS)
    # All submitted before any is approved: a submission beside a worker recording a result
    # can deadlock in the database (submit locks rows, then the audit chain; see the report).
    pending = [submit(requester, "key.rotate", params={"name": name}) for name in names]
    return [approve(change, *custodians) for change in pending]


def test_workers_never_send_more_calls_per_window_than_configured(
    requester, custodian, second_custodian, hsm, paced_workers
):
    # given
    seq = hsm.process.latest_seq()
    started = time.monotonic()
    # when: 12 rotations approved at once, 4 rotations allowed per 3 s
    changes = rotation_storm(requester, (custodian, second_custodian), hsm, ROTATIONS)
    done = [wait_for_state(change, "succeeded", "failed", timeout=90) for change in changes]
    elapsed = time.monotonic() - started
    # then: all rotated, the emulator refused nothing, and the calls were spread out
    assert [change.state for change in done] == ["succeeded"] * ROTATIONS
    calls = [r for r in hsm.calls_since(seq) if r["path"].endswith("/rotate")]
    assert [r["status"] for r in calls] == [200] * ROTATIONS
    assert [r for r in hsm.calls_since(seq) if r["status"] == 429] == []
    assert hsm.process.service_limits()["throttled"] == 0
    assert elapsed >= (ROTATIONS // LIMITS["key_manage"] - 1) * WINDOW
    # the backlog waited for admission before its claim: rescheduled, one attempt each
    assert Execution.objects.filter(request__in=done).count() == ROTATIONS
    logs = "".join(worker.log_path.read_text() for worker in paced_workers)
    assert "Paced to the HSM's service limits: no key_manage token" in logs


def test_a_create_during_a_rotation_storm_goes_through_within_one_window(
    requester, custodian, second_custodian, hsm, paced_workers
):
    # given: a storm of rotations under way, and a key.create submitted before it
    create = submit(
        requester,
        params={
            "name": "pay-new-in-storm",
            "kty": "EC-HSM",
            "curve": "P-256",
            "key_ops": ["sign", "verify"],
        },
    )
    changes = rotation_storm(requester, (custodian, second_custodian), hsm, ROTATIONS)
    time.sleep(0.5)
    # when: the create is approved in the middle of it
    approved_at = time.monotonic()
    create = approve(create, custodian, second_custodian)
    create = wait_for_state(create, "succeeded", "failed", timeout=30)
    delay = time.monotonic() - approved_at
    # then: its own tokens; it did not queue behind the rotations
    assert create.state == "succeeded"
    assert delay < WINDOW
    rotations = ChangeRequest.objects.filter(pk__in=[c.pk for c in changes])
    assert rotations.exclude(state="succeeded").exists()  # the storm was still on
    for change in changes:
        wait_for_state(change, "succeeded", "failed", timeout=90)
    assert hsm.process.service_limits()["throttled"] == 0


def test_a_long_retry_after_reschedules_instead_of_sleeping_in_the_worker(
    requester, custodian, second_custodian, hsm, live_worker
):
    # given: the HSM answers the rotation once with 429 and Retry-After 4 (beyond the 2 s a
    # worker waits in-process)
    hsm.operator.create_key("pay-busy", kty="EC-HSM", curve="P-256")
    ManagedKeyFactory(name="pay-busy", team=requester.memberships.get().team)
    hsm.process.set_faults(
        [{"match": "POST /keys/pay-busy/rotate", "status": 429, "retry_after": 4, "count": 1}]
    )
    # when
    change = approve(
        submit(requester, "key.rotate", params={"name": "pay-busy"}), custodian, second_custodian
    )
    change = wait_for_state(change, "succeeded", "failed", timeout=30)
    # then: the first attempt ended at once; the second came after the Retry-After
    first, second = change.executions.order_by("attempt")
    assert change.state == "succeeded"
    assert (first.outcome, first.error["error"], first.error["code"]) == (
        "transient",
        "HsmThrottled",
        "Throttled",
    )
    assert (first.finished_at - first.started_at).total_seconds() < 2
    assert (second.started_at - first.finished_at).total_seconds() >= 4
    assert settings.HSM_MAX_RETRY_AFTER_SECONDS == 2.0
