"""The admin home's "Sync now": audited, queued for a real worker, one at a time, admins only;
and the sync card with the last run's age and the running one's progress."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from keys.models import InventorySyncRun, ManagedKey, SyncStatus
from tests.web.conftest import csrf_post

SYNC_URL = "/inventory/sync/"


def finished_run(*, minutes_ago: int, status=SyncStatus.SUCCEEDED) -> InventorySyncRun:
    finished = timezone.now() - timedelta(minutes=minutes_ago)
    return InventorySyncRun.objects.create(
        id=uuid.uuid4(),
        started_at=finished - timedelta(seconds=5),
        finished_at=finished,
        heartbeat_at=finished,
        status=status,
        trigger="schedule",
        keys_seen=7,
    )


def running_run(*, keys_seen: int) -> InventorySyncRun:
    now = timezone.now()
    return InventorySyncRun.objects.create(
        id=uuid.uuid4(),
        started_at=now - timedelta(minutes=2),
        heartbeat_at=now,
        status=SyncStatus.RUNNING,
        trigger="schedule",
        keys_seen=keys_seen,
        keys_new=3,
    )


def wait_for_manual_run(timeout: float = 60.0) -> InventorySyncRun | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = InventorySyncRun.objects.filter(trigger="manual").exclude(status="running").first()
        if run is not None:
            return run
        time.sleep(0.2)
    return None


@pytest.mark.django_db(transaction=True)
def test_admin_sync_now_is_audited_and_a_real_worker_runs_a_full_sync(
    hsm, live_worker, client_for, admin_user, payments_team
):
    # given
    hsm.operator.create_key("pay-sync-now", kty="EC-HSM", curve="P-256")
    client = client_for(admin_user)

    # when
    response = csrf_post(client, SYNC_URL)

    # then
    assert response.status_code == 302
    assert response["Location"] == "/"
    event = AuditEvent.objects.get(action="inventory.sync_requested")
    assert (event.actor_id, event.target_type, event.after) == (
        admin_user.pk,
        "keys.inventory",
        {"full": True},
    )
    run = wait_for_manual_run()
    assert run is not None, live_worker.log_tail()
    assert (run.status, run.keys_seen) == ("succeeded", 1)
    assert ManagedKey.objects.filter(name="pay-sync-now").exists()


def test_sync_now_queues_one_full_manual_sync_on_commit(
    client_for, admin_user, django_capture_on_commit_callbacks
):
    # given
    client = client_for(admin_user)
    client.get("/")

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = csrf_post(client, SYNC_URL)

    # then
    assert response.status_code == 302
    assert len(callbacks) == 1
    assert callbacks[0].keywords == {"full": True, "trigger": "manual"}
    assert callbacks[0].func.__self__.name == "keys.sync_inventory"


def test_second_click_before_the_sync_starts_says_so_and_queues_nothing(
    client_for, admin_user, django_capture_on_commit_callbacks
):
    # given
    client = client_for(admin_user)
    csrf_post(client, SYNC_URL)

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = csrf_post(client, SYNC_URL)

    # then
    assert response.status_code == 409
    assert "has not started yet" in response.content.decode()
    assert callbacks == []
    assert AuditEvent.objects.filter(action="inventory.sync_requested").count() == 1


def test_click_while_a_sync_runs_says_so_and_queues_nothing(
    client_for, admin_user, django_capture_on_commit_callbacks
):
    # given
    running_run(keys_seen=120)
    client = client_for(admin_user)

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = csrf_post(client, SYNC_URL)

    # then
    assert response.status_code == 409
    assert "already running" in response.content.decode()
    assert "120 keys seen so far" in response.content.decode()
    assert callbacks == []
    assert AuditEvent.objects.filter(action="inventory.sync_requested").exists() is False


@pytest.mark.parametrize(
    ("_case", "role"),
    [("custodian", "custodian"), ("requester", "requester"), ("auditor", "auditor")],
)
def test_only_admins_sync_now(
    _case, role, user_for_role, client_for, payments_team, django_capture_on_commit_callbacks
):
    # given
    client = client_for(user_for_role(role))

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = csrf_post(client, SYNC_URL)

    # then
    assert response.status_code == 403
    assert "Only admins start an inventory sync." in response.content.decode()
    assert callbacks == []
    assert AuditEvent.objects.filter(action="inventory.sync_requested").exists() is False
    assert client.get("/inventory/sync/live/").status_code == 403


def test_sync_now_is_not_a_get(client_for, admin_user, django_capture_on_commit_callbacks):
    # given
    client = client_for(admin_user)

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.get(SYNC_URL)

    # then
    assert response.status_code == 405
    assert callbacks == []
    assert AuditEvent.objects.filter(action="inventory.sync_requested").exists() is False


def test_sync_now_needs_the_csrf_token(client_for, admin_user):
    response = client_for(admin_user).post(SYNC_URL)
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action="inventory.sync_requested").exists() is False


def test_admin_home_shows_the_last_syncs_age_and_the_button(client_for, admin_user):
    # given
    finished_run(minutes_ago=12)

    # when
    html = client_for(admin_user).get("/").content.decode()

    # then
    assert "Last sync 12\xa0minutes ago, succeeded." in html
    assert 'action="/inventory/sync/"' in html
    assert 'data-live-url="/inventory/sync/live/"' in html


def test_sync_card_shows_a_running_syncs_progress_and_keeps_polling(client_for, admin_user):
    # given
    finished_run(minutes_ago=60)
    running_run(keys_seen=500)

    # when
    response = client_for(admin_user).get("/inventory/sync/live/")

    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-open="true"' in html
    assert "500 keys seen so far, 3 new." in html
    assert 'action="/inventory/sync/"' not in html


def test_sync_card_stops_polling_when_no_sync_runs(client_for, admin_user):
    finished_run(minutes_ago=3, status=SyncStatus.FAILED)
    html = client_for(admin_user).get("/inventory/sync/live/").content.decode()
    assert 'data-open="false"' in html
    assert "Last sync 3\xa0minutes ago, failed." in html
