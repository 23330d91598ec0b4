"""What one executed key.create costs the database: a fixed number of SQL statements, the
same for the 2nd request as for the 10th (nothing grows with the inventory or the audit trail).

Counted around the real execution code (claim, the HSM calls to the emulator through the
SDK, record) on the test's connection. Transaction control is not counted: here the claim
and the record are savepoints inside the test's transaction; in a worker they are one
BEGIN/COMMIT each."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals.services import execute_request
from audit.context import AuditContext
from tests.approvals.conftest import approve, submit

pytestmark = pytest.mark.django_db

# What one audit.services.record_events call costs: one INSERT (the sealer finds the events
# and chains them after the commit).
AUDIT_STATEMENTS_PER_CALL = 1
# One record_events call in the claim, one in the record.
AUDIT_CALLS_PER_EXECUTION = 2
# Claim: the request locked with its last attempt (one SELECT), → RUNNING, the attempt
# inserted. Record: → SUCCEEDED and the attempt finished (one statement: both conditional
# UPDATEs, no second lock); the inventory: its one team, the key row locked and the rotation
# standards (one SELECT), the row inserted already judged with its version (one statement).
STATEMENTS_BESIDES_AUDIT = 3 + 1 + 2
STATEMENTS_PER_KEY_CREATE = (
    STATEMENTS_BESIDES_AUDIT + AUDIT_CALLS_PER_EXECUTION * AUDIT_STATEMENTS_PER_CALL
)
TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


def statements_of_execution(change) -> list[str]:
    task_id = f"task-{change.pk}"
    with CaptureQueriesContext(connection) as queries:
        done = execute_request(
            request_id=change.pk, ctx=AuditContext.worker(task_id=task_id), task_id=task_id
        )
    assert done.state == "succeeded"
    return [
        query["sql"]
        for query in queries.captured_queries
        if not query["sql"].startswith(TRANSACTION_CONTROL)
    ]


def test_an_executed_key_create_costs_a_constant_number_of_statements(
    requester, custodian, second_custodian, hsm
):
    # given: ten approved key.create requests
    changes = [
        approve(
            submit(
                requester,
                params={
                    "name": f"pay-count-{n}",
                    "kty": "EC-HSM",
                    "curve": "P-256",
                    "key_ops": ["sign"],
                },
            ),
            custodian,
            second_custodian,
        )
        for n in range(10)
    ]
    # when: each is executed
    counts = [len(statements_of_execution(change)) for change in changes]
    # then
    assert counts == [STATEMENTS_PER_KEY_CREATE] * 10
