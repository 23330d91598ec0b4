"""Posture with a real worker: a sync queues the check, which mails the custodians about new
high findings; a check started on the API shows its progress; a finding's fix action opens a
role.revoke that goes through dual approval and clears the finding."""

from __future__ import annotations

import time
import uuid
from urllib.parse import parse_qs, urlparse

import pytest
from django.utils import timezone

from audit.context import AuditContext
from keys.services.sync import sync_inventory
from posture.fixes import fixes_for
from posture.models import Finding, PostureRun
from posture.services import evaluate_posture
from tests.approvals.conftest import approve, submit, wait_for_state
from tests.support.hsm import CRYPTO_OFFICER, CRYPTO_USER, HSM_ADMIN_OID, ROLE_ID_PREFIX
from tests.support.worker import mail_text

pytestmark = pytest.mark.django_db(transaction=True)
CRYPTO_AUDITOR = "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"
APP_OID = "00000000-0000-0000-0000-0000000000e5"


def finished_run(timeout: float = 60) -> PostureRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = PostureRun.objects.exclude(status="running").first()
        if run is not None:
            return run
        time.sleep(0.1)
    raise AssertionError(f"no posture run finished within {timeout}s")


def assign(admin_sdk, principal: str, role: str, scope: str) -> str:
    name = str(uuid.uuid4())
    admin_sdk.access_control.create_role_assignment(
        scope, ROLE_ID_PREFIX + role, principal, name=name
    )
    return name


def test_a_sync_queues_the_check_and_custodians_hear_of_new_high_findings(
    hsm, admin_sdk, live_worker, custodian, settings
):
    settings.POSTURE_AFTER_SYNC = True
    assign(admin_sdk, HSM_ADMIN_OID, CRYPTO_OFFICER, "/")

    sync_inventory(ctx=AuditContext.system("test"), trigger="test")
    run = finished_run()

    assert (run.status, run.trigger, run.rules_done, run.rules_total) == (
        "succeeded",
        "sync:test",
        10,
        10,
    )
    mail = live_worker.wait_for_mail(
        "[Keywarden] New high HSM posture finding: [principal.administrator_with_key_roles]",
        to=custodian.email,
    )
    assert "[principal.administrator_with_key_roles] Administrator" in mail_text(mail)


def test_a_check_started_on_the_api_runs_on_a_worker(hsm, live_worker, admin_user, api_client_for):
    client = api_client_for(admin_user)

    started = client.post("/api/v1/posture/check/")
    finished_run()
    latest = client.get("/api/v1/posture/check/").json()

    assert (started.status_code, started.json()["status"]) == (202, "running")
    assert latest["id"] == started.json()["id"]
    assert (latest["status"], latest["rules_done"], latest["rules_total"]) == ("succeeded", 10, 10)
    assert latest["findings_open"] == Finding.objects.filter(resolved_at=None).count()


def test_a_fix_action_revokes_through_dual_approval_and_clears_the_finding(
    hsm, admin_sdk, operator_sdk, live_worker, requester, custodian, second_custodian
):
    operator_sdk.keys.create_ec_key("pay-shared")
    assign(admin_sdk, APP_OID, CRYPTO_USER, "/keys/pay-shared")
    auditor_role = assign(admin_sdk, APP_OID, CRYPTO_AUDITOR, "/keys/pay-shared")
    sync_inventory(ctx=AuditContext.system("test"))
    evaluate_posture(ctx=AuditContext.system("test"), now=timezone.now())
    finding = Finding.objects.get(rule="principal.multiple_roles", subject=APP_OID)
    fixes = {fix.label: fix.url for fix in fixes_for([finding])[finding.pk]}
    revoke = urlparse(fixes["Revoke Managed HSM Crypto Auditor on pay-shared"])
    query = parse_qs(revoke.query)

    change = submit(
        requester,
        "role.revoke",
        team=query["team"][0],
        params={"assignment": query["assignment"][0]},
    )
    approve(change, custodian, second_custodian)
    change = wait_for_state(change, "succeeded", "failed")
    sync_inventory(ctx=AuditContext.system("test"))
    evaluate_posture(ctx=AuditContext.system("test"), now=timezone.now())

    assert revoke.path == "/requests/new/role.revoke/"
    assert (query["team"], query["assignment"]) == (["payments"], [auditor_role])
    assert change.state == "succeeded", change.error
    assert auditor_role not in {a.name for a in hsm.admin.list_role_assignments("/")}
    finding.refresh_from_db()
    assert finding.resolved_at is not None
