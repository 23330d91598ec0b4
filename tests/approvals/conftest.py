"""Fixtures for the approval workflow: an inventory to act on and requests in each state,
all reached through the services (STYLE §8)."""

from __future__ import annotations

import time

import pytest
from django.utils import timezone

from approvals import services
from approvals.models import ChangeRequest
from audit.context import AuditContext
from keys.models import RoleAssignmentMirror
from tests.factories import ManagedKeyFactory
from tests.support.worker import LiveWorker, database_url_for_subprocess

ALICE_CTX = AuditContext.system("test")
APP_PRINCIPAL = "0a0a0a0a-0000-4000-8000-000000000001"


@pytest.fixture
def inventory(payments_team, identity_team):
    """Rows as a sync leaves them: live, deleted, a key-exchange key, another team's key."""
    keys = {
        "pay-live": ManagedKeyFactory(name="pay-live", team=payments_team),
        "pay-rsa": ManagedKeyFactory(
            name="pay-rsa",
            team=payments_team,
            kty="RSA-HSM",
            curve="",
            key_size=2048,
            key_ops=["sign", "verify"],
        ),
        "pay-kek": ManagedKeyFactory(
            name="pay-kek",
            team=payments_team,
            kty="RSA-HSM",
            curve="",
            key_size=2048,
            key_ops=["import"],
            is_kek=True,
        ),
        "pay-deleted": ManagedKeyFactory(name="pay-deleted", team=payments_team, state="deleted"),
        "idn-key": ManagedKeyFactory(name="idn-key", team=identity_team),
    }
    RoleAssignmentMirror.objects.create(
        name="9b9b9b9b-0000-4000-8000-000000000001",
        scope="/keys/pay-live",
        key=keys["pay-live"],
        team=payments_team,
        role_definition_id="x",
        role_name="Managed HSM Crypto User",
        principal_id=APP_PRINCIPAL,
        is_managed=True,
    )
    RoleAssignmentMirror.objects.create(
        name="9b9b9b9b-0000-4000-8000-000000000002",
        scope="/keys/idn-key",
        key=keys["idn-key"],
        role_definition_id="x",
        role_name="Managed HSM Crypto User",
        principal_id=APP_PRINCIPAL,
        is_managed=True,
    )
    return keys


def submit(user, operation="key.create", team="payments", params=None, justification="needed"):
    return services.submit_request(
        requester=user,
        operation=operation,
        team=team,
        justification=justification,
        params=params
        if params is not None
        else {"name": "pay-new", "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign", "verify"]},
        ctx=AuditContext(actor=user),
    )


def approve(change, *custodians):
    for custodian in custodians:
        change = services.approve_request(
            request_id=change.pk,
            custodian=custodian,
            comment="ok",
            ctx=AuditContext(actor=custodian),
        )
    return change


@pytest.fixture
def pending_request(requester, payments_team):
    return submit(requester)


@pytest.fixture
def approved_request(pending_request, custodian, second_custodian):
    return approve(pending_request, custodian, second_custodian)


def wait_for_state(
    change: ChangeRequest, *states: str, timeout: float = 60, diagnose=lambda: ""
) -> ChangeRequest:
    """Poll the database until a worker has moved the request into one of `states`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        change.refresh_from_db()
        if change.state in states:
            return change
        time.sleep(0.1)
    attempts = list(change.executions.values_list("attempt", "outcome", "task_id"))
    raise AssertionError(
        f"request still {change.state} after {timeout}s (wanted {states}) at "
        f"{timezone.now():%H:%M:%S}; attempts {attempts}\n{diagnose()}"
    )


# The application_name of single_worker's database connections (in pg_stat_activity).
WORKER_APPLICATION_NAME = "kw-test-single-worker"


@pytest.fixture
def single_worker(live_worker, tmp_path, settings):
    """A worker with one pool process on the execution queues, its connections named, and no
    audit sealer of its own (the sealer's connection is not the pool's). The session's worker
    reads the same queues, so it is stopped meanwhile and started again."""
    live_worker.stop()
    url = f"{database_url_for_subprocess()}?application_name={WORKER_APPLICATION_NAME}"
    worker = LiveWorker(
        log_dir=tmp_path,
        concurrency=1,
        queues=settings.CELERY_EXECUTION_QUEUES,
        env={"DATABASE_URL": url, "AUDIT_SEALER_IN_WORKER": "false"},
    )
    worker.start()
    yield worker
    worker.wait_idle()
    worker.stop()
    live_worker.start()
