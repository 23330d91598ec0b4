"""A worker records a request's end on a thread of its own while it goes on to the next task; a
worker told to stop makes that record before it exits, and one that dies before the record
commits leaves the request to the sweeper, which ends it once, as the HSM left it. A real
PostgreSQL lock holds the records; real workers, the real SDK and the emulator do the rest."""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager

import psycopg
import pytest
from django.utils import timezone

from approvals import services
from approvals.models import ChangeRequest
from audit.context import AuditContext
from tests.approvals.conftest import approve, submit, wait_for_state
from tests.support.worker import database_url_for_subprocess

pytestmark = pytest.mark.django_db(transaction=True)
TIMEOUT = 30
SWEEPER = AuditContext.scheduler(job="test")


def key(name: str) -> dict:
    return {"name": name, "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign"]}


def created(hsm, seq: int) -> list[str]:
    """Keys whose create the HSM has answered 200 since `seq`, in order."""
    return [
        entry["path"].split("/")[2]
        for entry in hsm.process.requests_since(seq)
        if entry["principal"]
        and entry["method"] == "POST"
        and entry["path"].endswith("/create")
        and entry["status"] == 200
    ]


def wait_until(condition, what: str, diagnose=lambda: "") -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in {TIMEOUT}s\n{diagnose()}")
        time.sleep(0.05)


@contextmanager
def inventory_locked():
    """While inside, no record can write the inventory: another transaction holds a lock on its
    table (reads go on). Yields that transaction's connection."""
    url = database_url_for_subprocess()
    with psycopg.connect(url, autocommit=True) as blocker, blocker.transaction():
        blocker.execute("LOCK TABLE keys_managedkey IN EXCLUSIVE MODE")
        yield blocker


def records_waiting(blocker: psycopg.Connection) -> int:
    """Transactions waiting for the lock on the inventory table (records, which write it)."""
    return blocker.execute(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'keys_managedkey'::regclass"
    ).fetchone()[0]


def task_ended(worker, change: ChangeRequest) -> bool:
    """The worker's log has the request's task returning (before its record has committed)."""
    return any(
        "succeeded in" in line and str(change.pk) in line
        for line in worker.log_path.read_text(errors="replace").splitlines()
    )


def approved(requester, custodians, name: str) -> ChangeRequest:
    return approve(submit(requester, params=key(name)), *custodians)


def test_a_worker_goes_on_to_its_next_task_while_the_last_ones_end_is_recorded(
    requester, custodian, second_custodian, live_worker, hsm
):
    # given: no record can write the inventory for now (another transaction holds a lock on
    # its table), and the worker's two pool processes have each made a key, whose records wait
    custodians = (custodian, second_custodian)
    seq = hsm.process.latest_seq()
    with inventory_locked() as blocker:
        first = [approved(requester, custodians, f"pay-behind-{n}") for n in range(2)]
        wait_until(lambda: len(created(hsm, seq)) == 2, "two creates", live_worker.log_tail)
        # when: a third key.create is approved
        third = approved(requester, custodians, "pay-behind-2")
        # then: a pool process makes it while both earlier ends are still unrecorded; each
        # process has one record waiting at the lock (a third waits in its process for a place)
        wait_until(lambda: len(created(hsm, seq)) == 3, "the third create", live_worker.log_tail)
        wait_until(lambda: records_waiting(blocker) == 2, "a record waiting in each process")
        running = ChangeRequest.objects.filter(
            pk__in=[c.pk for c in (*first, third)], state="running"
        ).count()
        assert running == 3
    # and: once the lock is gone, each is recorded, exactly once
    for change in (*first, third):
        change = wait_for_state(change, "succeeded", "failed", diagnose=live_worker.log_tail)
        assert change.state == "succeeded", change.error
        assert list(change.executions.values_list("outcome", flat=True)) == ["succeeded"]
    assert sorted(created(hsm, seq)) == ["pay-behind-0", "pay-behind-1", "pay-behind-2"]


def test_a_worker_that_dies_before_its_record_commits_leaves_the_request_to_the_sweeper(
    requester, custodian, second_custodian, live_worker, hsm, settings
):
    # given: a key made at the HSM, its record held by a lock on the inventory table
    seq = hsm.process.latest_seq()
    with inventory_locked() as blocker:
        change = approved(requester, (custodian, second_custodian), "pay-behind-lost")
        wait_until(lambda: records_waiting(blocker) == 1, "a waiting record")
        wait_until(lambda: task_ended(live_worker, change), "the task's end")
        time.sleep(0.3)  # its pool process's result reaches the worker, which acknowledges
        # when: the pool processes die (no message comes back: the task was acknowledged)
        for pid in live_worker.child_pids():
            os.kill(pid, signal.SIGKILL)
    # (the record's transaction, its client gone, rolls back once the lock is released)
    change.refresh_from_db()
    assert change.state == "running"
    # then: once the attempt's lease has run out, the sweeper sends it again; the new attempt
    # finds the key this request made, and records one success without making another
    time.sleep(settings.EXECUTION_LEASE_SECONDS + 0.5)
    assert services.redispatch_stalled_requests(now=timezone.now(), ctx=SWEEPER) == [change.pk]
    change = wait_for_state(change, "succeeded", "failed", diagnose=live_worker.log_tail)
    assert change.state == "succeeded", change.error
    assert list(change.executions.values_list("outcome", flat=True)) == ["abandoned", "succeeded"]
    assert created(hsm, seq) == ["pay-behind-lost"]
    assert len(list(hsm.operator.list_key_versions("pay-behind-lost"))) == 1


def test_a_stopping_worker_makes_the_record_it_holds_before_it_exits(
    requester, custodian, second_custodian, hsm, single_worker
):
    # given: a key made at the HSM, its record held by a lock on the inventory table
    with inventory_locked() as blocker:
        change = approved(requester, (custodian, second_custodian), "pay-behind-stop")
        wait_until(lambda: records_waiting(blocker) == 1, "a waiting record")
        wait_until(lambda: task_ended(single_worker, change), "the task's end")
        # when: the worker is told to stop (a deploy) while the record waits
        stopping = threading.Thread(target=single_worker.stop, kwargs={"timeout": TIMEOUT})
        stopping.start()
        stopping.join(2)
        # then: it does not exit while its pool process still holds the record
        assert stopping.is_alive()
    # and: once the lock is gone, the record commits and the worker exits, with no sweeper
    stopping.join(TIMEOUT)
    assert not stopping.is_alive() and single_worker.process.returncode == 0
    change.refresh_from_db()
    assert change.state == "succeeded", (change.error, single_worker.log_tail())
    assert list(change.executions.values_list("outcome", flat=True)) == ["succeeded"]
