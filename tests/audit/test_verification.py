"""Verification runs (audit.verification): the API and the worker, incremental ranges, one at a
time, tampering found by a run."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.roles import Role
from audit.context import AuditContext
from audit.models import AuditEvent, VerificationRun
from audit.services import seal_events
from audit.verification import (
    RUN_TASK_NAME,
    STALE_RUN_AFTER,
    VerificationAlreadyRunning,
    run_verification,
    start_verification,
)
from keys.services.audit_checkpoints import run_audit_verification
from keys.tasks import run_audit_verification_task

VERIFY_URL = "/api/v1/audit/verify/"
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="bypasses PostgreSQL's triggers"
)


def wait_for_finished(run_id, timeout: float = 60.0) -> VerificationRun:
    deadline = time.monotonic() + timeout
    run = VerificationRun.objects.get(pk=run_id)
    while run.status == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
        run = VerificationRun.objects.get(pk=run_id)
    return run


@pytest.mark.parametrize("events", [10, 500])
def test_verify_answers_from_the_latest_run_without_walking_the_chain(
    events, write_events, auditor, api_client_for, django_assert_num_queries, verify_now
):
    # given: the last run checked every event
    write_events(events)
    run = verify_now()
    client = api_client_for(auditor)
    # when: the same statements whatever the chain's length (token, user, roles, the run)
    with django_assert_num_queries(5):
        response = client.get(VERIFY_URL)
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"], body["events_checked"]) == (str(run.pk), "ok", events)
    assert (body["from_sequence"], body["to_sequence"], body["first_broken"]) == (0, events, None)
    assert body["head_hash"] == AuditEvent.objects.get(sequence=events).hash


def test_verify_without_a_run_says_none_has_run(write_events, auditor, api_client_for):
    # given
    write_events(3)
    # when
    response = api_client_for(auditor).get(VERIFY_URL)
    # then
    assert response.status_code == 404
    assert response.json() == {"detail": "No verification has run yet; POST to start one."}
    assert VerificationRun.objects.exists() is False


@pytest.mark.parametrize(("_case", "role"), [("auditor", Role.AUDITOR), ("admin", Role.ADMIN)])
def test_post_starts_a_run_queued_on_commit(
    _case, role, write_events, user_for_role, api_client_for, django_capture_on_commit_callbacks
):
    # given
    write_events(4)
    user = user_for_role(role)
    client = api_client_for(user)
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(VERIFY_URL, {"full": True}, format="json")
    # then
    assert response.status_code == 202
    run = VerificationRun.objects.get()
    assert response.json()["id"] == str(run.pk)
    assert (run.status, run.trigger, run.started_by, run.is_full) == (
        "running",
        "manual",
        user,
        True,
    )
    assert (run.from_sequence, run.to_sequence, run.events_checked) == (0, 4, 0)
    assert len(callbacks) == 1
    assert callbacks[0].args == (RUN_TASK_NAME,)
    assert callbacks[0].keywords == {"kwargs": {"run_id": str(run.pk)}}


@pytest.mark.parametrize(
    ("_case", "role"),
    [("requester", Role.REQUESTER), ("custodian", Role.CUSTODIAN), ("outsider", "outsider")],
)
def test_post_refuses_other_roles(_case, role, write_events, user_for_role, api_client_for):
    # given
    write_events(2)
    # when
    response = api_client_for(user_for_role(role)).post(VERIFY_URL)
    # then
    assert response.status_code == 403
    assert response.json() == {"detail": "Only auditors and admins may verify the audit trail."}
    assert VerificationRun.objects.exists() is False


def test_post_while_a_run_is_running_answers_409(write_events, auditor, api_client_for):
    # given
    write_events(2)
    client = api_client_for(auditor)
    first = client.post(VERIFY_URL)
    # when
    second = client.post(VERIFY_URL)
    # then
    assert first.status_code == 202
    assert second.status_code == 409
    assert second.json() == {"detail": "A verification of the audit trail is already running."}
    assert VerificationRun.objects.count() == 1


def test_one_run_at_a_time_and_an_abandoned_run_stops_blocking(write_events):
    # given
    write_events(2)
    now = timezone.now()
    abandoned = start_verification(now=now - STALE_RUN_AFTER - timedelta(seconds=1))
    fresh = start_verification(now=now)
    # when / then
    with pytest.raises(VerificationAlreadyRunning):
        start_verification(now=now)
    abandoned.refresh_from_db()
    assert (abandoned.status, abandoned.error) == ("failed", "abandoned (no heartbeat)")
    assert VerificationRun.objects.filter(status="running").get() == fresh


def test_a_run_no_longer_running_is_not_walked_again(write_events):
    # given: a run abandoned by its worker, replaced by a newer one
    write_events(3)
    now = timezone.now()
    abandoned = start_verification(now=now - STALE_RUN_AFTER - timedelta(seconds=1))
    start_verification(now=now)
    events_before = AuditEvent.objects.count()
    # when: the old run's task is delivered late
    run = run_verification(run_id=abandoned.pk, ctx=AuditContext.system("test"))
    # then
    assert (run.status, run.events_checked, run.finished_at) == ("failed", 0, now)
    assert AuditEvent.objects.count() == events_before


def test_a_run_records_its_progress_every_chunk(write_events):
    # given
    write_events(10)
    run = start_verification(now=timezone.now())
    # when
    with CaptureQueriesContext(connection) as queries:
        run_verification(run_id=run.pk, ctx=AuditContext.system("test"), chunk_size=4)
    # then: 4, 8, then the last 2, each saved as it is read
    progress = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith('UPDATE "audit_verificationrun"')
        and "heartbeat_at" in query["sql"]
    ]
    assert len(progress) == 3
    run.refresh_from_db()
    assert (run.status, run.events_checked, run.to_sequence) == ("ok", 10, 10)
    seal_events()  # its audit.verified event, as the worker's after-commit sealer does
    event = AuditEvent.objects.get(action="audit.verified")
    assert (event.sequence, event.target_id, event.after["status"]) == (11, str(run.pk), "ok")


@postgresql_only
def test_a_tampered_event_makes_the_run_broken(
    write_events, tamper, auditor, api_client_for, verify_now
):
    # given
    write_events(6)
    tamper("UPDATE audit_auditevent SET target_name = 'other' WHERE sequence = 3")
    # when
    run = verify_now()
    # then
    assert (run.status, run.broken_sequence, run.broken_reason) == ("broken", 3, "hash_mismatch")
    assert run.events_checked == 6
    assert api_client_for(auditor).get(VERIFY_URL).json()["first_broken"] == {
        "sequence": 3,
        "reason": "hash_mismatch",
        "detail": "the stored hash does not match the content",
    }


def test_an_incremental_run_reads_only_events_after_the_last_ok_run(write_events, verify_now):
    # given: a run checked 1..10 (and recorded its result as event 11); 5 events since
    write_events(10)
    first = verify_now()
    write_events(5)
    # when
    second = verify_now()
    # then
    assert (first.from_sequence, first.to_sequence, first.events_checked) == (0, 10, 10)
    assert (second.status, second.anchor) == ("ok", "run")
    assert (second.from_sequence, second.to_sequence, second.events_checked) == (10, 16, 6)


def test_an_incremental_run_with_nothing_new_checks_the_anchor_only(write_events, verify_now):
    # given
    write_events(3)
    first = verify_now()
    # when: only the first run's own event is new
    second = verify_now()
    third = verify_now()
    # then
    assert (first.to_sequence, second.to_sequence, third.to_sequence) == (3, 4, 5)
    assert [run.events_checked for run in (first, second, third)] == [3, 1, 1]
    assert {first.status, second.status, third.status} == {"ok"}


@postgresql_only
def test_an_incremental_run_finds_a_rehashed_anchor(write_events, tamper, verify_now):
    # given: event 4, the last run's end, edited and re-hashed
    write_events(4)
    verify_now()
    tamper(
        "UPDATE audit_auditevent SET target_name = 'x', hash = %s WHERE sequence = 4", ["f" * 64]
    )
    # when
    run = verify_now()
    # then
    assert (run.status, run.broken_sequence, run.broken_reason) == ("broken", 4, "hash_mismatch")
    assert run.broken_detail == "the hash differs from the one an earlier run verified"


@postgresql_only
def test_an_edit_before_the_anchor_is_found_by_a_full_run(write_events, tamper, verify_now):
    # given: event 2 edited after a run had verified it
    write_events(5)
    verify_now()
    tamper("UPDATE audit_auditevent SET target_name = 'other' WHERE sequence = 2")
    # when
    incremental = verify_now()
    full = verify_now(full=True)
    # then: routine runs read only new events; the full one re-checks everything
    assert (incremental.status, incremental.events_checked) == ("ok", 1)
    assert (full.status, full.broken_sequence, full.from_sequence) == ("broken", 2, 0)
    assert full.events_checked == 7


def test_a_signed_checkpoint_moves_the_anchor_up(write_events, checkpoint, verify_now):
    # given: a verified run over 1..3, then a checkpoint at event 8
    write_events(3)
    verify_now()
    write_events(4)
    signed = checkpoint()
    write_events(2)
    run = start_verification(now=timezone.now())
    # when
    run = run_audit_verification(run_id=run.pk, ctx=AuditContext.system("test"))
    # then
    assert (signed.head_sequence, run.status, run.anchor) == (8, "ok", "checkpoint")
    assert (run.from_sequence, run.to_sequence, run.events_checked) == (8, 10, 2)


@postgresql_only
def test_a_checkpoint_whose_signature_fails_is_no_anchor(write_events, checkpoint, tamper):
    # given
    write_events(3)
    signed = checkpoint()
    tamper(
        "UPDATE audit_auditcheckpoint SET signature = %s WHERE number = %s",
        ["A" * 86, signed.number],
    )
    run = start_verification(now=timezone.now())
    # when
    run = run_audit_verification(run_id=run.pk, ctx=AuditContext.system("test"))
    # then
    assert (run.status, run.anchor, run.from_sequence, run.events_checked) == (
        "ok",
        "genesis",
        0,
        3,
    )


def test_the_run_is_scheduled_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["audit-verification"]
    assert (entry["task"], entry["schedule"]) == (RUN_TASK_NAME, 86400)
    assert run_audit_verification_task.name == RUN_TASK_NAME


@pytest.mark.django_db(transaction=True)
def test_a_live_worker_verifies_a_run_started_through_the_api(
    live_worker, write_events, auditor, api_client_for
):
    # given
    write_events(12)
    client = api_client_for(auditor)
    # when
    started = client.post(VERIFY_URL)
    run = wait_for_finished(started.json()["id"])
    # then
    assert started.status_code == 202
    assert run.status == "ok", live_worker.log_tail()
    assert (run.from_sequence, run.to_sequence, run.events_checked) == (0, 12, 12)
    assert run.finished_at >= run.heartbeat_at >= run.started_at
    assert client.get(VERIFY_URL).json()["status"] == "ok"


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_live_worker_finds_a_tampered_event(live_worker, write_events, tamper):
    # given
    write_events(8)
    tamper("UPDATE audit_auditevent SET target_name = 'other' WHERE sequence = 5")
    # when
    result = run_audit_verification_task.delay().get(timeout=60)
    # then
    run = VerificationRun.objects.get()
    assert result == {"status": "broken", "run": str(run.pk), "events_checked": 8}
    assert (run.broken_sequence, run.broken_reason, run.trigger) == (5, "hash_mismatch", "schedule")
