"""Exactly once in effect: concurrent approvals, a worker killed mid-task, a broker outage,
throttling and outages at the HSM, and a permanent HSM error."""

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import pytest
from django.db import connection
from django.utils import timezone

from approvals import services
from approvals.models import ChangeRequest, Execution
from audit.context import AuditContext
from tests.approvals.conftest import approve, submit, wait_for_state
from tests.support.redis import RedisServer
from tests.support.worker import ROOT, LiveWorker, mail_text, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)
EC_KEY = {"name": "pay-race", "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign", "verify"]}
SWEEPER = AuditContext.scheduler(job="test")


@dataclass
class PrivateBroker:
    broker: RedisServer
    env: dict
    worker: LiveWorker


@pytest.fixture
def private(tmp_path):
    """A redis-server of the test's own (it may stop and start it) and a worker for it, not
    yet started; both stopped at the end."""
    broker = RedisServer(tmp_path).start()
    env = {"CELERY_BROKER_URL": broker.url, "CELERY_RESULT_BACKEND": broker.url}
    private = PrivateBroker(broker, env, LiveWorker(log_dir=tmp_path, concurrency=1, env=env))
    yield private
    private.worker.stop()
    broker.stop()


def versions(hsm, name):
    return list(hsm.operator.list_key_versions(name))


def calls(hsm, seq, method, path):
    return [r["status"] for r in hsm.calls_since(seq) if (r["method"], r["path"]) == (method, path)]


def test_simultaneous_approvals_give_one_execution(
    requester, custodian, second_custodian, third_custodian, api_client_for, live_worker, hsm
):
    # given: one approval in; two more custodians press approve at the same moment
    change = approve(submit(requester, params=EC_KEY), custodian)
    clients = [api_client_for(second_custodian), api_client_for(third_custodian)]
    barrier, statuses = threading.Barrier(2), []

    def press(client):
        barrier.wait()
        statuses.append(
            client.post(
                f"/api/v1/requests/{change.pk}/approve/", {"comment": "go"}, format="json"
            ).status_code
        )
        connection.close()

    threads = [threading.Thread(target=press, args=(c,)) for c in clients]
    [t.start() for t in threads]
    [t.join() for t in threads]
    # then
    change = wait_for_state(change, "succeeded", "failed")
    assert sorted(statuses) == [200, 409]
    assert (change.state, change.dispatch_count, change.executions.count()) == ("succeeded", 1, 1)
    assert len(versions(hsm, "pay-race")) == 1


def test_worker_process_killed_mid_task_ends_with_one_result(
    requester, custodian, second_custodian, live_worker, hsm
):
    # given: the HSM takes 3 s to create the key, so the worker is caught mid-call
    hsm.process.set_faults(
        [{"match": "POST /keys/pay-race/create", "action": "delay", "latency_ms": 3000, "count": 1}]
    )
    change = approve(submit(requester, params=EC_KEY), custodian, second_custodian)
    deadline = time.monotonic() + 30
    while not Execution.objects.filter(request=change).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the pool process is inside the HSM call now
    # when: SIGKILL the pool process running it
    for pid in live_worker.child_pids():
        os.kill(pid, signal.SIGKILL)
    # then: the task comes back, finds the key this request made, and records one success
    change = wait_for_state(
        change, "succeeded", "failed", timeout=90, diagnose=live_worker.log_tail
    )
    attempts = list(change.executions.values_list("outcome", flat=True))
    assert change.state == "succeeded", (change.error, live_worker.log_tail())
    assert attempts[0] == "abandoned"
    assert attempts[-1] == "succeeded"
    assert len(versions(hsm, "pay-race")) == 1


def test_whole_worker_killed_is_recovered_by_the_sweeper(
    requester, custodian, second_custodian, live_worker, hsm, settings
):
    # given: a rotation in flight when the whole worker (parent and pool) dies
    hsm.operator.create_key("pay-race", kty="EC-HSM", curve="P-256")
    from keys.services.sync import sync_inventory

    sync_inventory(ctx=SWEEPER)
    hsm.process.set_faults(
        [{"match": "POST /keys/pay-race/rotate", "action": "delay", "latency_ms": 3000, "count": 1}]
    )
    change = approve(
        submit(requester, "key.rotate", params={"name": "pay-race"}), custodian, second_custodian
    )
    while not Execution.objects.filter(request=change).exists():
        time.sleep(0.05)
    time.sleep(0.5)
    live_worker.kill()
    live_worker.start()
    # when: the attempt's lease runs out and the sweeper sends the request again
    time.sleep(settings.EXECUTION_LEASE_SECONDS + 0.5)
    assert services.redispatch_stalled_requests(now=timezone.now(), ctx=SWEEPER) == [change.pk]
    # then: the HSM had rotated once already; the new attempt sees that and does not rotate again
    change = wait_for_state(change, "succeeded", "failed", timeout=60)
    assert change.state == "succeeded", change.error
    assert len(versions(hsm, "pay-race")) == 2
    assert change.result["previous_version"] != change.result["version"]


def test_request_approved_while_the_broker_is_down_runs_when_it_returns(
    requester, custodian, second_custodian, hsm, private
):
    # given: a worker on a broker of its own
    broker, env, worker = private.broker, private.env, private.worker
    worker.start()
    change = approve(submit(requester, params=EC_KEY), custodian)
    # when: the last approval happens while that broker is down
    broker.stop()
    approving = approve_in_another_process(change, env)
    change.refresh_from_db()
    assert approving.returncode == 0, approving.stderr
    assert "request.dispatch_failed" in approving.stderr
    assert (change.state, change.executions.count()) == ("approved", 0)
    # then: the broker comes back and the sweeper's re-dispatch gets it executed
    broker.start()
    time.sleep(2.5)  # REDISPATCH_AFTER_SECONDS
    sweeping = run_portal_code(SWEEP_CODE, env)
    assert sweeping.stdout.strip() == "1", sweeping.stderr
    change = wait_for_state(change, "succeeded", "failed")
    assert change.state == "succeeded", (change.error, worker.log_tail())
    assert len(versions(hsm, "pay-race")) == 1


SWEEP_CODE = (
    "from approvals import services; from audit.context import AuditContext; "
    "from django.utils import timezone; "
    "print(len(services.redispatch_stalled_requests(now=timezone.now(), "
    "ctx=AuditContext.scheduler(job='test'))))"
)


def test_sweeper_leaves_a_request_whose_message_is_still_queued_alone(
    requester, custodian, second_custodian, hsm, private
):
    # given: the last approval's message waits in a broker no worker reads yet
    env, worker = private.env, private.worker
    change = approve(submit(requester, params=EC_KEY), custodian)
    approving = approve_in_another_process(change, env)
    assert approving.returncode == 0, approving.stderr
    # when: the sweeper runs after REDISPATCH_AFTER_SECONDS
    time.sleep(2.5)
    sweeping = run_portal_code(SWEEP_CODE, env)
    # then: nothing is sent again; once a worker comes, the one message runs once
    assert sweeping.stdout.strip() == "0", sweeping.stderr
    change.refresh_from_db()
    assert (change.state, change.dispatch_count) == ("approved", 1)
    worker.start()
    change = wait_for_state(change, "succeeded", "failed")
    assert (change.state, change.dispatch_count) == ("succeeded", 1), worker.log_tail()
    assert len(versions(hsm, "pay-race")) == 1


def approve_in_another_process(change, env: dict) -> subprocess.CompletedProcess:
    """dave's approval, made by a portal process on the broker `env` names."""
    return run_portal_code(
        "from approvals import services; from audit.context import AuditContext; "
        "from accounts.models import User; u = User.objects.get(username='dave'); "
        f"services.approve_request(request_id='{change.pk}', custodian=u, comment='ok', "
        "ctx=AuditContext(actor=u))",
        env,
    )


def run_portal_code(code: str, env: dict) -> subprocess.CompletedProcess:
    """Run code in a separate portal process (its own broker connection)."""
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=ROOT,
        env=subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("_case", "status"), [("throttled", 429), ("unavailable", 503)])
def test_throttling_and_outages_end_in_success(
    _case, status, requester, custodian, second_custodian, live_worker, hsm
):
    # given: more refusals than the gateway's own retries, so the task retries too
    hsm.process.set_faults(
        [{"match": "POST /keys/pay-race/create", "status": status, "retry_after": 0, "count": 7}]
    )
    seq = hsm.process.latest_seq()
    # when
    change = approve(submit(requester, params=EC_KEY), custodian, second_custodian)
    change = wait_for_state(change, "succeeded", "failed")
    # then
    outcomes = list(change.executions.values_list("outcome", flat=True))
    assert change.state == "succeeded", change.error
    assert outcomes == ["transient", "succeeded"]
    assert calls(hsm, seq, "POST", "/keys/pay-race/create") == [status] * 7 + [200]
    assert len(versions(hsm, "pay-race")) == 1


def test_permanent_hsm_error_fails_with_the_hsm_message_and_custodian_retry_recovers(
    requester, custodian, second_custodian, live_worker, hsm
):
    hsm.process.set_faults(
        [
            {
                "match": "POST /keys/pay-race/create",
                "status": 400,
                "code": "BadParameter",
                "message": "Curve not enabled",
                "count": 1,
            }
        ]
    )
    change = approve(submit(requester, params=EC_KEY), custodian, second_custodian)
    change = wait_for_state(change, "succeeded", "failed")
    assert change.state == "failed"
    assert (change.error["code"], change.error["message"]) == ("BadParameter", "Curve not enabled")
    assert len(change.error["hsm_request_id"]) == 36
    failed_mail = live_worker.wait_for_mail(
        "[Keywarden] Failed", to=requester.email, about=str(change.pk)
    )
    assert "Curve not enabled" in mail_text(failed_mail)
    # a custodian retries once the HSM side is fixed
    services.retry_request(
        request_id=change.pk, custodian=custodian, ctx=AuditContext(actor=custodian)
    )
    change = wait_for_state(change, "succeeded", "failed")
    assert (change.state, change.executions.count()) == ("succeeded", 2)
    assert ChangeRequest.objects.get(pk=change.pk).error is None


def test_sweeper_leaves_a_transient_request_whose_retry_is_waiting_alone(
    requester, custodian, second_custodian, hsm, private
):
    # given: the HSM asks for 40 s of quiet, more than a worker sleeps in-process, so the task
    # is rescheduled; its retry waits at the worker (a scheduled task), not in the queue
    hsm.process.set_faults(
        [{"match": "POST /keys/pay-race/create", "status": 429, "retry_after": 40, "count": 1}]
    )
    env, worker = private.env, private.worker
    worker.start()
    change = approve(submit(requester, params=EC_KEY), custodian)
    assert approve_in_another_process(change, env).returncode == 0
    deadline = time.monotonic() + 30
    while not change.executions.filter(outcome="transient").exists():
        assert time.monotonic() < deadline, worker.log_tail()
        time.sleep(0.1)
    # when: the sweeper runs once REDISPATCH_AFTER_SECONDS have passed
    time.sleep(2.5)
    sweeping = run_portal_code(SWEEP_CODE, env)
    # then: the waiting retry counts as alive; nothing is sent twice
    assert sweeping.stdout.strip() == "0", sweeping.stderr
    change.refresh_from_db()
    assert (change.state, change.dispatch_count) == ("running", 1)
