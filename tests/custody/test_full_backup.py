"""The full HSM backup as a dual-approved request (`hsm.full_backup`): asked for by the
platform team, approved by two custodians, run by the real worker as the HSM's administrator
through the official backup client against the emulator (managed identity, no SAS token).
The FullBackup row it records clears the posture rule `hsm.no_recent_full_backup`."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.roles import Role
from approvals.models import State
from approvals.operations import SPECS
from approvals.operations.plan import render_plan
from audit.actions import Action
from audit.context import AuditContext
from audit.models import AuditEvent
from core.errors import Invalid
from custody.models import FullBackup
from custody.services import record_full_backup
from keys.services.sync import sync_inventory
from posture.models import Finding
from posture.services import evaluate_posture
from tests.approvals.conftest import approve, submit, wait_for_state
from tests.approvals.test_plans import differences
from tests.support.hsm import HSM_ADMIN_OID

CONTAINER = "https://keywardenbackups.blob.core.windows.net/hsm-backups"
RULE = "hsm.no_recent_full_backup"


def open_backup_findings(now) -> int:
    sync_inventory(ctx=AuditContext.system("test"))
    evaluate_posture(ctx=AuditContext.system("test"), now=now)
    return Finding.objects.filter(rule=RULE, resolved_at=None).count()


@pytest.mark.django_db(transaction=True)
def test_an_approved_full_backup_runs_in_the_hsm_and_clears_the_posture_finding(
    platform_requester, custodian, second_custodian, live_worker, hsm, api_client_for
):
    # given: no backup yet, so the posture finds none
    assert open_backup_findings(timezone.now()) == 1
    change = submit(
        platform_requester,
        "hsm.full_backup",
        team="hsm-platform",
        params={"container_url": CONTAINER},
    )
    seq = hsm.process.latest_seq()
    # when two custodians approve and the worker runs it
    approve(change, custodian, second_custodian)
    change = wait_for_state(change, State.SUCCEEDED, State.FAILED, timeout=90)
    # then the HSM wrote a backup folder into the container, recorded with its request
    assert change.state == State.SUCCEEDED, (change.error, live_worker.log_tail())
    backup = FullBackup.objects.get()
    assert re.fullmatch(rf"{CONTAINER}/mhsm-[a-z0-9-]+-\d{{16}}", backup.folder_url)
    assert (backup.container_url, backup.request_id) == (CONTAINER, change.pk)
    # (stamped in the transaction that marks the request succeeded, right after it)
    assert change.finished_at <= backup.finished_at < change.finished_at + timedelta(seconds=5)
    assert change.result == {"container_url": CONTAINER, "folder_url": backup.folder_url}
    recorded = AuditEvent.objects.get(action=Action.CUSTODY_FULL_BACKUP_RECORDED)
    assert recorded.after == {
        "request": str(change.pk),
        "container": CONTAINER,
        "folder": backup.folder_url,
    }
    # and the preview showed exactly the call the HSM's administrator made
    plan = SPECS["hsm.full_backup"].plan(change.params, request_id=change.pk)
    shown = api_client_for(platform_requester).get(f"/api/v1/requests/{change.pk}/").json()
    assert shown["preview"] == render_plan(plan) == f"full_backup(container_url='{CONTAINER}')"
    sent = [r for r in hsm.calls_since(seq) if r["principal"] == HSM_ADMIN_OID.lower()]
    assert differences(plan, sent) == []
    # and the posture no longer finds the HSM without a recent backup
    assert open_backup_findings(timezone.now()) == 0


@pytest.mark.django_db
def test_a_full_backup_is_asked_for_by_the_platform_team_only(requester, payments_team):
    with pytest.raises(Invalid) as refused:
        submit(requester, "hsm.full_backup", params={"container_url": CONTAINER})
    assert refused.value.errors == {
        "team": [f"Custody changes are asked for by team {settings.CUSTODY_TEAM}, not payments."]
    }


@pytest.mark.parametrize(
    "url",
    [
        "http://keywardenbackups.blob.core.windows.net/hsm-backups",
        f"{CONTAINER}?sv=2024-01-01&sig=secret",
        f"{CONTAINER}/folder",
        f"{CONTAINER}/",
        "https://keywardenbackups.blob.core.windows.net.evil.example/hsm-backups",
        "https://keywardenbackups.blob.core.windows.net/Hsm--Backups",
        f"{CONTAINER}\n",
    ],
)
@pytest.mark.django_db
def test_the_container_url_must_be_a_blob_container_and_nothing_more(platform_requester, url):
    with pytest.raises(Invalid) as refused:
        submit(
            platform_requester,
            "hsm.full_backup",
            team="hsm-platform",
            params={"container_url": url},
        )
    assert refused.value.errors == {
        "params.container_url": [
            "An Azure Storage blob container URL, https://<account>.blob.core.windows.net/"
            "<container>, with no SAS token or path: the HSM writes with its managed identity."
        ]
    }


@pytest.mark.django_db
def test_a_sas_token_is_no_param(platform_requester):
    with pytest.raises(Invalid) as refused:
        submit(
            platform_requester,
            "hsm.full_backup",
            team="hsm-platform",
            params={"container_url": CONTAINER, "sas_token": "sv=2024&sig=secret"},
        )
    assert list(refused.value.errors) == ["params.sas_token"]


def _backed_up() -> FullBackup:
    return record_full_backup(
        request_id=uuid.uuid4(),
        container_url=CONTAINER,
        folder_url=f"{CONTAINER}/mhsm-test-2026120112000000",
        now=timezone.now(),
        ctx=AuditContext.system("test"),
    )


@pytest.mark.parametrize(
    ("_case", "role", "status"),
    [
        ("admin reads", Role.ADMIN, 200),
        ("custodian reads", Role.CUSTODIAN, 200),
        ("auditor reads", Role.AUDITOR, 200),
        ("requester refused", Role.REQUESTER, 403),
        ("outsider refused", "outsider", 403),
    ],
)
@pytest.mark.django_db
def test_the_backups_api_by_role(_case, role, status, user_for_role, api_client_for):
    backup = _backed_up()
    response = api_client_for(user_for_role(role)).get("/api/v1/custody/backups/")
    assert response.status_code == status
    if status == 403:
        assert response.json()["detail"] == (
            "Only admins, custodians and auditors see the full HSM backups."
        )
        return
    rows = response.json()
    rows = rows["results"] if isinstance(rows, dict) else rows
    assert rows == [
        {
            "finished_at": backup.finished_at.isoformat().replace("+00:00", "Z"),
            "container_url": CONTAINER,
            "folder_url": backup.folder_url,
            "request": str(backup.request_id),
        }
    ]


@pytest.mark.django_db
def test_the_custody_page_lists_the_backups_and_links_the_request_form(custodian, outsider):
    backup = _backed_up()
    browser = Client()
    browser.force_login(custodian)
    html = browser.get("/custody/").content.decode()
    assert '<a href="/requests/new/hsm.full_backup/">Request a full backup</a>' in html
    assert f"<code>{backup.folder_url}</code>" in html
    browser.force_login(outsider)
    assert browser.get("/custody/").status_code == 403
