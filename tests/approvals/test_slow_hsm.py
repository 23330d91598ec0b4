"""Exactly once when the HSM is slower than the client timeout, and fenced attempts: an
attempt that lost its lease records nothing (approvals.lease)."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from approvals import lease
from approvals.models import AttemptOutcome, Execution
from approvals.services import execute_request
from audit.context import AuditContext
from audit.models import AuditEvent
from keys.services.sync import sync_inventory
from tests.approvals.conftest import approve, submit, wait_for_state

pytestmark = pytest.mark.django_db(transaction=True)
EC_KEY = {"name": "pay-slow", "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign", "verify"]}
SYSTEM = AuditContext.system("test")


LATENCY_SECONDS = settings.HSM_TIMEOUT_SECONDS + 2


def slower_than_the_timeout(hsm, method_path: str) -> float:
    """The HSM carries out `method_path` once, 2 s after the client gave up on it. Returns
    the monotonic time by which that late call has surely landed."""
    hsm.process.set_faults(
        [
            {
                "match": method_path,
                "action": "delay",
                "latency_ms": LATENCY_SECONDS * 1000,
                "count": 1,
            }
        ]
    )
    return time.monotonic() + LATENCY_SECONDS + 1


def wait_until(moment: float) -> None:
    """Let the late call land before counting what the HSM holds."""
    time.sleep(max(0.0, moment - time.monotonic()))


def existing_key(hsm) -> None:
    hsm.operator.create_key("pay-slow", kty="EC-HSM", curve="P-256")
    sync_inventory(ctx=SYSTEM)


@pytest.mark.parametrize(
    ("_case", "operation", "params", "before", "call", "versions"),
    [
        ("create", "key.create", EC_KEY, lambda hsm: None, "create", 1),
        ("rotate", "key.rotate", {"name": "pay-slow"}, existing_key, "rotate", 2),
    ],
)
def test_a_call_slower_than_the_client_timeout_lands_exactly_once(
    _case,
    operation,
    params,
    before,
    call,
    versions,
    requester,
    custodian,
    second_custodian,
    live_worker,
    hsm,
):
    # given: the call lands at the HSM after the client timed out
    before(hsm)
    landed_by = slower_than_the_timeout(hsm, f"POST /keys/pay-slow/{call}")
    seq = hsm.process.latest_seq()
    # when
    change = approve(submit(requester, operation, params=params), custodian, second_custodian)
    change = wait_for_state(
        change, "succeeded", "failed", timeout=90, diagnose=live_worker.log_tail
    )
    wait_until(landed_by)
    # then: one call reached the HSM; the next attempt waited for it, found its effect and
    # recorded the version that is current
    made = [r for r in hsm.calls_since(seq) if r["path"] == f"/keys/pay-slow/{call}"]
    assert change.state == "succeeded", (change.error, live_worker.log_tail())
    assert len(made) == 1
    assert len(list(hsm.operator.list_key_versions("pay-slow"))) == versions
    assert list(change.executions.values_list("outcome", flat=True)) == [
        AttemptOutcome.TRANSIENT,
        AttemptOutcome.SUCCEEDED,
    ]
    assert change.result["version"] == hsm.operator.get_key("pay-slow").version


@pytest.mark.django_db  # not transactional: nothing commits, so no worker gets the dispatch
def test_a_fenced_attempt_records_nothing(requester, custodian, second_custodian, hsm):
    # given: attempt 1 claimed, then silent past its lease; attempt 2 takes the request over
    change = approve(submit(requester, params=EC_KEY), custodian, second_custodian)
    first = _claim_only(change, task_id="worker-a")
    stale = timezone.now() - timedelta(seconds=settings.HSM_SETTLE_SECONDS + 1)
    Execution.objects.filter(pk=first.pk).update(heartbeat_at=stale)
    # when: another worker executes the request to the end, then the stale attempt wakes up
    execute_request(request_id=change.pk, ctx=AuditContext.worker(task_id="b"), task_id="b")
    events_before = AuditEvent.objects.count()
    with pytest.raises(lease.AttemptFenced):
        lease.heartbeat(first)
    recorded = lease.finish(first, AttemptOutcome.SUCCEEDED, result={"stale": True})
    # then
    change.refresh_from_db()
    assert recorded is False
    assert change.state == "succeeded"
    assert list(change.executions.values_list("attempt", "outcome")) == [
        (1, AttemptOutcome.ABANDONED),
        (2, AttemptOutcome.SUCCEEDED),
    ]
    assert Execution.objects.get(pk=first.pk).result is None
    assert AuditEvent.objects.count() == events_before


def _claim_only(change, *, task_id: str) -> lease.Attempt:
    """Open an attempt as a worker's claim does, without making the HSM call."""
    from approvals.services.execute import _claim

    _, attempt, _, _ = _claim(change.pk, task_id, AuditContext.worker(task_id=task_id))
    return attempt
