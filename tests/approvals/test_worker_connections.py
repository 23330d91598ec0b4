"""Workers keep their database connections across tasks (Celery's Django fixup would close them
around every task), and recover when they are cut, as after a database restart. A pool process
has two: its tasks' and its recorder thread's (approvals.services.execute)."""

import pytest
from django.db import connection

from tests.approvals.conftest import WORKER_APPLICATION_NAME, approve, submit, wait_for_state

pytestmark = pytest.mark.django_db(transaction=True)


def worker_backends() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s ORDER BY pid",
            [WORKER_APPLICATION_NAME],
        )
        return [pid for (pid,) in cursor.fetchall()]


def create_key(requester, custodian, second_custodian, name: str, worker):
    change = approve(
        submit(
            requester, params={"name": name, "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign"]}
        ),
        custodian,
        second_custodian,
    )
    return wait_for_state(change, "succeeded", "failed", diagnose=worker.log_tail)


def test_a_worker_keeps_its_connection_across_tasks_and_recovers_a_cut_one(
    requester, custodian, second_custodian, hsm, single_worker
):
    # given: one request done
    first = create_key(requester, custodian, second_custodian, "pay-conn-1", single_worker)
    backends = worker_backends()
    # when: two more
    second = create_key(requester, custodian, second_custodian, "pay-conn-2", single_worker)
    third = create_key(requester, custodian, second_custodian, "pay-conn-3", single_worker)
    # then: the same connections served them
    assert [first.state, second.state, third.state] == ["succeeded"] * 3
    assert len(backends) == 2
    assert worker_backends() == backends
    # when: the database ends both connections (as a restart would)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [backends])
    fourth = create_key(requester, custodian, second_custodian, "pay-conn-4", single_worker)
    # then: the next task and its record reconnect, and it succeeds
    assert fourth.state == "succeeded"
    assert fourth.executions.count() == 1
    assert len(worker_backends()) == 2
    assert set(worker_backends()).isdisjoint(backends)
