"""A first attempt's opening read (is the key there?) is on its way to the HSM while the attempt
is claimed (from the moment a worker takes a first dispatch's message, which names it), and
answers the plan's check once; a failed try of it is made again with retries. A message that
names anything but a read is not read early, and an early answer is not taken once an earlier
attempt exists. A real PostgreSQL lock holds a real worker's claim midway; the real SDK talks
to the emulator."""

from __future__ import annotations

import time

import psycopg
import pytest

from approvals.models import Execution
from approvals.services import execute_request
from audit.context import AuditContext
from keys.gateway import HsmTransientError
from tests.approvals.conftest import approve, submit, wait_for_state
from tests.support.worker import database_url_for_subprocess

pytestmark = pytest.mark.django_db(transaction=True)
KEY = {"name": "pay-early", "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign"]}
TIMEOUT = 30
NOT_THERE = ("GET", "/keys/pay-early/", 404)  # the opening read: no such key yet
CREATED = ("POST", "/keys/pay-early/create", 200)


def keywarden_calls(hsm, seq: int) -> list[tuple[str, str, int]]:
    return [
        (entry["method"], entry["path"], entry["status"])
        for entry in hsm.process.requests_since(seq)
        if entry["principal"] and entry["path"].startswith("/keys/pay-early")
    ]


def first_calls(hsm, seq: int) -> list[tuple[str, str, int]]:
    """Keywarden's calls since `seq`, once there is one (or TIMEOUT has passed)."""
    deadline = time.monotonic() + TIMEOUT
    while not keywarden_calls(hsm, seq) and time.monotonic() < deadline:
        time.sleep(0.05)
    return keywarden_calls(hsm, seq)


def run_attempt(change, **options):
    """One attempt of `change`, in this process, as a worker's task would make it."""
    return execute_request(
        request_id=change.pk,
        ctx=AuditContext.worker(task_id="task-early"),
        task_id="task-early",
        **options,
    )


def test_the_opening_read_reaches_the_hsm_while_the_attempt_is_still_being_claimed(
    requester, custodian, second_custodian, live_worker, hsm
):
    # given: attempts cannot be written for now (another transaction holds a lock on their
    # table), so the worker's claim stops at its attempt row
    seq = hsm.process.latest_seq()
    with psycopg.connect(database_url_for_subprocess()) as blocker:
        blocker.execute("LOCK TABLE approvals_execution IN EXCLUSIVE MODE")
        # when: a key.create is approved, and a worker takes it
        change = approve(submit(requester, params=KEY), custodian, second_custodian)
        seen_while_claiming = first_calls(hsm, seq)
        claimed_meanwhile = Execution.objects.filter(request=change).exists()
    change = wait_for_state(change, "succeeded", "failed", diagnose=live_worker.log_tail)
    # then: the HSM had the read before any attempt existed; it answered the check once
    assert (seen_while_claiming, claimed_meanwhile) == ([NOT_THERE], False)
    assert change.state == "succeeded", change.error
    assert keywarden_calls(hsm, seq) == [NOT_THERE, CREATED]


@pytest.mark.django_db  # not transactional: nothing commits, so no worker gets the dispatch
def test_a_failed_try_of_the_opening_read_is_made_again_with_retries(
    requester, custodian, second_custodian, hsm
):
    # given: the HSM answers the first read of the key 503
    hsm.process.set_faults([{"match": "GET /keys/pay-early", "status": 503, "count": 1}])
    change = approve(submit(requester, params=KEY), custodian, second_custodian)
    seq = hsm.process.latest_seq()
    # when
    done = run_attempt(change)
    # then: read again in the attempt (not an error of the request), then created
    assert done.state == "succeeded"
    assert keywarden_calls(hsm, seq) == [("GET", "/keys/pay-early/", 503), NOT_THERE, CREATED]


def test_a_first_dispatch_names_its_opening_read_and_the_worker_reads_before_its_claim(
    requester, custodian, second_custodian, live_worker, hsm
):
    # given: the attempts' table cannot even be read for now, so a worker's claim cannot get
    # past its first statement (which reads the request's last attempt)
    change = approve(submit(requester, params=KEY), custodian)
    seq = hsm.process.latest_seq()
    with psycopg.connect(database_url_for_subprocess()) as blocker:
        blocker.execute("LOCK TABLE approvals_execution IN ACCESS EXCLUSIVE MODE")
        # when: the last approval dispatches it
        approve(change, second_custodian)
        seen_before_the_claim = first_calls(hsm, seq)
        change.refresh_from_db()
        state_meanwhile = change.state
    change = wait_for_state(change, "succeeded", "failed", diagnose=live_worker.log_tail)
    # then: the HSM had the read while the request was not even claimed; it answered once
    assert (seen_before_the_claim, state_meanwhile) == ([NOT_THERE], "approved")
    assert change.state == "succeeded", change.error
    assert keywarden_calls(hsm, seq) == [NOT_THERE, CREATED]


@pytest.mark.django_db  # not transactional: nothing commits, so no worker gets the dispatch
@pytest.mark.parametrize(
    "opening",
    [["delete_key", ["pay-early"]], ["find_key", [7]], ["find_key"], "find_key", None],
    ids=["a write", "not a name", "no arguments", "not a pair", "none"],
)
def test_a_message_naming_anything_but_a_read_is_not_read_early(
    opening, requester, custodian, second_custodian, hsm
):
    # given
    change = approve(submit(requester, params=KEY), custodian, second_custodian)
    seq = hsm.process.latest_seq()
    # when
    done = run_attempt(change, opening=opening)
    # then: only the plan's own calls (its read made early as usual, after the claim's lock)
    assert done.state == "succeeded", done.error
    assert keywarden_calls(hsm, seq) == [NOT_THERE, CREATED]


@pytest.mark.django_db  # not transactional: nothing commits, so no worker gets the dispatch
def test_an_early_answer_is_not_taken_once_an_earlier_attempt_exists(
    requester, custodian, second_custodian, hsm
):
    # given: a first attempt ended in a transient error (each try of its create answered 503)
    hsm.process.set_faults(
        [{"match": "POST /keys/pay-early/create", "status": 503, "retry_after": 0, "count": 5}]
    )
    change = approve(submit(requester, params=KEY), custodian, second_custodian)
    with pytest.raises(HsmTransientError):
        run_attempt(change)
    seq = hsm.process.latest_seq()
    # when: a message naming the opening read comes again
    done = run_attempt(change, opening=["find_key", ["pay-early"]])
    # then: the read made before the claim is left unread; the attempt reads for itself
    assert done.state == "succeeded", done.error
    assert keywarden_calls(hsm, seq) == [NOT_THERE, NOT_THERE, CREATED]
