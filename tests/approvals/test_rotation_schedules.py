"""Portal rotation schedules (ROTATION.md §3) end to end: set by a dual-approved request, run
by the scheduler job through the one execution path (real worker, the emulator through the
SDK, PostgreSQL), exactly once per due window whatever the jobs and workers do."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.models import ChangeRequest
from approvals.services import (
    plan_schedule_work,
    redispatch_stalled_requests,
    run_rotation_schedules,
)
from audit.context import AuditContext
from audit.models import AuditEvent
from keys.models import KeyWarning, ManagedKey, RotationSchedule
from keys.services.inventory import record_key_applied
from tests.approvals.conftest import approve, submit, wait_for_state
from tests.support.worker import ROOT, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)
JOB = AuditContext.scheduler(job="test")
NAME = "pay-sched"


@pytest.fixture
def key(hsm, payments_team):
    """A live EC key Keywarden made, in the inventory."""
    made = hsm.keywarden.create_key(NAME, kty="EC-HSM", curve="P-256")
    record_key_applied(key=made, now=timezone.now())
    return made


@pytest.fixture
def deciders(custodian, second_custodian):
    return custodian, second_custodian


def set_schedule(requester, deciders, live_worker, **params) -> RotationSchedule:
    change = submit(
        requester, "key.set_rotation_schedule", params={"name": NAME, "cadence": "P30D", **params}
    )
    change = wait_for_state(approve(change, *deciders), "succeeded", "failed")
    assert change.state == "succeeded", (change.error, live_worker.log_tail())
    return RotationSchedule.objects.get(key__name=NAME)


def runs() -> list[ChangeRequest]:
    return list(ChangeRequest.objects.filter(schedule_request__isnull=False).order_by("created_at"))


def versions(hsm) -> list:
    return list(hsm.operator.list_key_versions(NAME))


def test_a_standing_schedule_rotates_once_when_due(requester, deciders, live_worker, hsm, key):
    # given: a standing 30-day schedule on a fresh key
    schedule = set_schedule(requester, deciders, live_worker, mode="standing")
    row = ManagedKey.objects.get(name=NAME)
    assert schedule.next_run_on == row.current_version_created_on + timedelta(days=30)
    assert (row.compliance_mechanism, row.compliance_due_on) == ("schedule", schedule.next_run_on)
    # when: the job runs just before, at, and again after the due time
    before = run_rotation_schedules(now=schedule.next_run_on - timedelta(minutes=1), ctx=JOB)
    due = schedule.next_run_on + timedelta(seconds=30)
    first = run_rotation_schedules(now=due, ctx=JOB)
    again = run_rotation_schedules(now=due + timedelta(minutes=1), ctx=JOB)
    # then: one run, approved at birth, executed by the worker
    assert (before, [w.kind for w in first], again) == ([], ["rotate"], [])
    [run] = runs()
    run = wait_for_state(run, "succeeded", "failed")
    assert run.state == "succeeded", (run.error, live_worker.log_tail())
    assert (run.operation, run.requester.username, run.approvals_required) == (
        "key.rotate",
        "keywarden-scheduler",
        0,
    )
    assert run.approvals.count() == 0
    assert len(versions(hsm)) == 2
    schedule.refresh_from_db()
    assert schedule.last_run_request == run.pk
    assert schedule.next_run_on == due - timedelta(seconds=30) + timedelta(days=30)
    # and every audit event of the run names the standing approval and its hash
    parent = run.schedule_request
    run_events = AuditEvent.objects.filter(target_id=str(run.pk)).order_by("id")  # seal order
    assert [e.action for e in run_events] == [
        "request.submitted",
        "request.approved",
        "request.dispatched",
        "request.attempt_started",
        "request.succeeded",
    ]
    for event in run_events:
        assert event.after["schedule_request"] == str(parent.pk), event.action
        assert event.after["schedule_payload_hash"] == parent.payload_hash, event.action


def _job_process(now) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_rotation_jobs", "--now", now.isoformat()],
        cwd=ROOT,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_job_processes_and_a_killed_worker_still_rotate_once(
    requester, deciders, live_worker, hsm, key, settings
):
    # given: a standing schedule that is due
    schedule = set_schedule(requester, deciders, live_worker, mode="standing")
    due = schedule.next_run_on + timedelta(minutes=1)
    # when: two beat processes run the jobs at the same instant, and the worker dies meanwhile
    live_worker.kill()
    jobs = [_job_process(due), _job_process(due)]
    outputs = [job.communicate(timeout=60) for job in jobs]
    live_worker.start()  # a fresh worker starts on an empty queue: the run's message is lost
    # then: exactly one of them opened the run; the sweeper sends it again, once
    assert [job.returncode for job in jobs] == [0, 0], outputs
    done = sorted(len(json.loads(out)["schedules"]) for out, _ in outputs)
    assert done == [0, 1]
    [run] = runs()
    later = timezone.now() + timedelta(seconds=settings.REDISPATCH_AFTER_SECONDS + 1)
    assert redispatch_stalled_requests(now=later, ctx=JOB) == [run.pk]
    run = wait_for_state(run, "succeeded", "failed", timeout=60, diagnose=live_worker.log_tail)
    assert run.state == "succeeded", run.error
    assert len(versions(hsm)) == 2
    assert run_rotation_schedules(now=due + timedelta(hours=1), ctx=JOB) == []
    assert len(runs()) == 1


def test_each_time_schedule_opens_one_pending_request_and_tells_custodians(
    requester, deciders, live_worker, hsm, key, settings
):
    # given: an each_time schedule
    schedule = set_schedule(requester, deciders, live_worker, mode="each_time")
    lead = timedelta(hours=settings.SCHEDULE_EACH_TIME_LEAD_HOURS)
    opens = schedule.next_run_on - lead
    # when: the job runs before the lead time, then three times inside it
    assert run_rotation_schedules(now=opens - timedelta(minutes=1), ctx=JOB) == []
    for minutes in (0, 1, 60):
        run_rotation_schedules(now=opens + timedelta(minutes=minutes), ctx=JOB)
    # then: one pending key.rotate for the usual dual approval; nothing rotated yet
    [run] = runs()
    assert (run.operation, run.state, run.approvals_required) == ("key.rotate", "pending", 2)
    assert len(versions(hsm)) == 1
    [event] = AuditEvent.objects.filter(target_id=str(run.pk), action="request.submitted")
    assert event.after["schedule_request"] == str(schedule.approved_by)
    # and custodians approve it like any request; it then runs once
    run = wait_for_state(approve(run, *deciders), "succeeded", "failed")
    assert run.state == "succeeded", run.error
    assert len(versions(hsm)) == 2
    assert live_worker.wait_for_mail("[Keywarden] Approval needed", to="carol", about=str(run.pk))


def test_retirement_disables_exactly_the_previous_version(
    requester, deciders, live_worker, hsm, key
):
    # given: a standing schedule that retires the previous version a day after each run
    schedule = set_schedule(
        requester, deciders, live_worker, mode="standing", retire_previous_after="P1D"
    )
    due = schedule.next_run_on
    run_rotation_schedules(now=due, ctx=JOB)
    [run] = runs()
    run = wait_for_state(run, "succeeded", "failed")
    previous, current = run.result["previous_version"], run.result["version"]
    # when: the job runs before and after the retirement is due
    finished = run.finished_at
    assert run_rotation_schedules(now=finished + timedelta(hours=23), ctx=JOB) == []
    [retire] = run_rotation_schedules(now=finished + timedelta(days=1, minutes=1), ctx=JOB)
    assert run_rotation_schedules(now=finished + timedelta(days=1, minutes=2), ctx=JOB) == []
    # then: one key.disable_version for the previous version, run under the standing approval
    disable = ChangeRequest.objects.get(operation="key.disable_version")
    assert (retire.kind, retire.version, disable.params) == (
        "retire_previous",
        previous,
        {"name": NAME, "version": previous},
    )
    disable = wait_for_state(disable, "succeeded", "failed")
    assert disable.state == "succeeded", (disable.error, live_worker.log_tail())
    enabled = {v.version: v.enabled for v in versions(hsm)}
    assert enabled == {previous: False, current: True}
    assert ManagedKey.objects.get(name=NAME).versions.get(version=previous).enabled is False


def test_a_run_due_outside_its_window_waits_for_the_next_window(
    requester, deciders, live_worker, hsm, key
):
    # given: a standing schedule with a Saturday-night window
    window = {"weekdays": [5], "start_hour_utc": 22, "hours": 4}
    schedule = set_schedule(requester, deciders, live_worker, mode="standing", window=window)
    due = schedule.next_run_on
    assert (due.weekday(), due.hour) == (5, 22)
    # when: the job was down all that night and runs on Sunday morning
    sunday = due.replace(hour=9) + timedelta(days=1)
    [missed] = run_rotation_schedules(now=sunday, ctx=JOB)
    # then: no rotation; the run moves to the next Saturday night
    schedule.refresh_from_db()
    assert (missed.kind, runs()) == ("window_missed", [])
    assert schedule.next_run_on == due + timedelta(days=7)
    assert AuditEvent.objects.filter(action="schedule.window_missed").count() == 1


def test_a_schedule_whose_approval_was_altered_is_refused_and_ends(
    requester, deciders, live_worker, hsm, key
):
    schedule = set_schedule(requester, deciders, live_worker, mode="standing")
    ChangeRequest.objects.filter(pk=schedule.approved_by).update(justification="altered")
    [refused] = run_rotation_schedules(now=schedule.next_run_on, ctx=JOB)
    assert (refused.kind, runs()) == ("rotate", [])
    assert not RotationSchedule.objects.exists()
    [event] = AuditEvent.objects.filter(action="schedule.refused")
    assert event.after == {"schedule_request": str(schedule.approved_by), "work": "rotate"}
    assert ManagedKey.objects.get(name=NAME).compliance_mechanism == "none"


def test_a_run_waits_while_another_request_on_the_key_is_open(
    requester, deciders, live_worker, hsm, key
):
    schedule = set_schedule(requester, deciders, live_worker, mode="standing")
    pending = submit(requester, "key.update", params={"name": NAME, "tags": {"env": "prod"}})
    assert run_rotation_schedules(now=schedule.next_run_on, ctx=JOB) == []
    assert RotationSchedule.objects.get().next_run_on == schedule.next_run_on  # not moved on
    assert [w.kind for w in plan_schedule_work(now=schedule.next_run_on)] == ["rotate"]
    ChangeRequest.objects.filter(pk=pending.pk).update(state="cancelled")
    assert [w.kind for w in run_rotation_schedules(now=schedule.next_run_on, ctx=JOB)] == ["rotate"]


def test_removing_the_schedule_ends_it(requester, deciders, live_worker, hsm, key):
    set_schedule(requester, deciders, live_worker, mode="standing")
    change = submit(requester, "key.remove_rotation_schedule", params={"name": NAME})
    change = wait_for_state(approve(change, *deciders), "succeeded", "failed")
    assert change.state == "succeeded", change.error
    assert not RotationSchedule.objects.exists()
    assert ManagedKey.objects.get(name=NAME).compliance_mechanism == "none"
    assert plan_schedule_work(now=timezone.now() + timedelta(days=400)) == []


def test_rotation_plan_lists_and_run_rotation_jobs_does_it(
    requester, deciders, live_worker, hsm, key
):
    schedule = set_schedule(requester, deciders, live_worker, mode="standing")
    at = (schedule.next_run_on + timedelta(hours=1)).isoformat()
    planned = subprocess.run(
        [sys.executable, "manage.py", "rotation_plan", "--now", at, "--json"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    plan = json.loads(planned.stdout)
    assert [(w["kind"], w["key"]) for w in plan["schedules"]] == [("rotate", NAME)]
    assert runs() == []  # the plan did nothing
    done = json.loads(_job_process(schedule.next_run_on + timedelta(hours=1)).communicate()[0])
    assert [(w["kind"], w["key"]) for w in done["schedules"]] == [("rotate", NAME)]
    assert len(runs()) == 1


def test_a_failed_run_warns_the_team_and_custodians_once(
    requester, deciders, live_worker, hsm, key
):
    # given: a standing schedule whose key an operator deleted in the HSM behind our back
    schedule = set_schedule(requester, deciders, live_worker, mode="standing")
    hsm.operator.delete_key(NAME)
    # when
    run_rotation_schedules(now=schedule.next_run_on, ctx=JOB)
    [run] = runs()
    run = wait_for_state(run, "succeeded", "failed")
    # then: the run failed and one schedule_failed warning went to alice and the custodians
    assert run.state == "failed"
    mail = live_worker.wait_for_mail(f"[Keywarden] {NAME} scheduled rotation failed")
    assert sorted(mail["To"].split(", ")) == [
        "alice@example.com",
        "carol@example.com",
        "dave@example.com",
    ]
    [warning] = KeyWarning.objects.filter(kind="schedule_failed")
    assert (warning.threshold, warning.key.name) == (f"run-{run.pk.hex[:12]}", NAME)
