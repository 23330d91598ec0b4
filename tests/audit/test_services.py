import multiprocessing
import threading
import uuid
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from django.db import connection, transaction

from accounts.models import Membership, Team
from audit import Target, chain
from audit.actions import Action
from audit.chain_selectors import verify_chain
from audit.context import AuditContext
from audit.models import AuditEvent
from audit.services import EventSpec, record_event, record_events, seal_events
from tests.audit.records import hashed_fields
from tests.audit.writers import write_events_in_process
from tests.support.worker import subprocess_env


def test_first_event_starts_chain_at_genesis(write_events):
    # when
    (event,) = write_events(1)
    # then
    assert event.sequence == 1
    assert event.prev_hash == "0" * 64
    assert event.hash == chain.compute_hash(hashed_fields(event))


def test_each_event_links_to_previous_one(write_events):
    # when
    first, second, third = write_events(3)
    # then
    assert [e.sequence for e in (first, second, third)] == [1, 2, 3]
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash


def test_stored_event_rehashes_to_its_hash(write_events):
    # given
    when = datetime(2026, 1, 31, 9, 15, 2, 123456, tzinfo=timezone.utc)
    before = {"id": uuid.UUID(int=7), "at": when, "amount": Decimal("1.50"), "tags": ("a", "b")}
    (event,) = write_events(1, before=before, after={"big": 1e20, "zero": -0.0, "x": 0.25})
    # when
    stored = AuditEvent.objects.get(pk=event.pk)
    # then
    assert stored.before == {
        "id": "00000000-0000-0000-0000-000000000007",
        "at": "2026-01-31T09:15:02.123Z",
        "amount": "1.50",
        "tags": ["a", "b"],
    }
    assert stored.after == {"big": 100000000000000000000, "zero": 0.0, "x": 0.25}
    assert chain.compute_hash(hashed_fields(stored)) == event.hash


def test_user_actor_is_snapshotted(write_events, requester):
    # when
    (event,) = write_events(1, ctx=AuditContext(actor=requester, ip="10.0.0.5", request_id="r-1"))
    # then
    assert (event.actor, event.actor_label, event.actor_type) == (requester, "alice", "user")
    assert (event.client_ip, event.request_id) == ("10.0.0.5", "r-1")


@pytest.mark.parametrize(
    ("_case", "ctx", "label", "actor_type", "task_id"),
    [
        ("worker", AuditContext.worker(task_id="t-42"), "worker", "system", "t-42"),
        ("scheduler", AuditContext.scheduler(job="keys.sync"), "scheduler", "system", "keys.sync"),
        ("system", AuditContext.system("system"), "system", "system", ""),
        ("anonymous", AuditContext(), "anonymous", "anonymous", ""),
    ],
)
def test_non_user_actor_is_labelled(_case, ctx, label, actor_type, task_id, write_events):
    # when
    (event,) = write_events(1, ctx=ctx)
    # then
    assert (event.actor, event.actor_label, event.actor_type) == (None, label, actor_type)
    assert event.task_id == task_id


def test_model_target_is_described_and_gives_the_team(requester, payments_team):
    # given
    membership = Membership.objects.get(user=requester)
    # when
    with transaction.atomic():
        event = record_event(AuditContext.system("test"), Action.TEAM_UPDATED, target=membership)
    # then
    assert (event.target_type, event.target_id) == ("accounts.membership", str(membership.pk))
    assert event.target_name == "alice in Payments"
    assert (event.team, event.team_slug) == (payments_team, "payments")


def test_team_target_is_its_own_team(payments_team):
    # when
    with transaction.atomic():
        event = record_event(AuditContext.system("test"), Action.TEAM_UPDATED, target=payments_team)
    # then
    assert (event.target_type, event.target_name) == ("accounts.team", "Payments")
    assert (event.team, event.team_slug) == (payments_team, "payments")


def test_explicit_team_wins_over_target(write_events, identity_team):
    # when
    (event,) = write_events(1, team=identity_team, hsm_request_id="hsm-9")
    # then
    assert (event.team, event.team_slug) == (identity_team, "identity")
    assert event.hsm_request_id == "hsm-9"
    assert (event.target_type, event.target_id, event.target_name) == ("test.thing", "1", "thing 1")


def test_unknown_action_is_refused(db):
    # when
    with (
        pytest.raises(ValueError, match=r"unknown audit action 'request\.exploded'"),
        transaction.atomic(),
    ):
        record_event(AuditContext.system("test"), "request.exploded", target=_thing())
    # then
    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_record_event_refuses_to_run_outside_a_transaction():
    # when
    with pytest.raises(RuntimeError, match=r"must run inside transaction.atomic\(\)"):
        record_event(AuditContext.system("test"), Action.TEAM_UPDATED, target=_thing())
    # then
    assert AuditEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_rolled_back_change_leaves_no_event(payments_team):
    # when
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        payments_team.name = "Renamed"
        payments_team.save()
        record_event(AuditContext.system("test"), Action.TEAM_UPDATED, target=payments_team)
        _ = 1 / 0
    # then
    assert AuditEvent.objects.count() == 0
    payments_team.refresh_from_db()
    assert payments_team.name == "Payments"


@pytest.mark.django_db(transaction=True)
def test_eight_threads_leave_one_gapless_chain():
    # given
    threads_count, per_thread = 8, 25
    barrier = threading.Barrier(threads_count)
    failures = []

    def writer(label: str) -> None:
        try:
            barrier.wait(timeout=30)
            for number in range(per_thread):
                with transaction.atomic():
                    record_event(
                        AuditContext.system(label),
                        Action.TEAM_UPDATED,
                        target=Target("test.thing", str(number), label),
                    )
        except Exception as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(f"t{n}",)) for n in range(threads_count)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # then
    assert failures == []
    seal_events()  # what the sealer does after their commits
    report = verify_chain()
    assert (report.valid, report.events_checked, report.head_sequence) == (True, 200, 200)
    assert AuditEvent.objects.values("actor_label").distinct().count() == threads_count


@pytest.mark.django_db(transaction=True)
def test_four_processes_leave_one_gapless_chain():
    # given
    processes_count, per_process = 4, 50
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(processes_count)
    env = subprocess_env()
    processes = [
        spawn.Process(target=write_events_in_process, args=(env, barrier, f"p{n}", per_process))
        for n in range(processes_count)
    ]
    # when
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    # then
    assert [process.exitcode for process in processes] == [0] * processes_count
    seal_events()  # what the sealer does after their commits
    report = verify_chain()
    assert (report.valid, report.events_checked, report.head_sequence) == (True, 200, 200)
    assert AuditEvent.objects.values("actor_label").distinct().count() == processes_count


def _thing() -> Target:
    return Target("test.thing", "1", "thing")


def test_batch_gets_consecutive_linked_sequence_numbers(write_events, payments_team):
    # given
    (first,) = write_events(1)
    specs = [
        EventSpec(
            Action.KEY_DRIFT_DETECTED, Target("keys.managedkey", "1", "pay-a"), payments_team
        ),
        EventSpec(
            Action.KEY_DRIFT_DETECTED, Target("keys.managedkey", "2", "pay-b"), after={"n": 2}
        ),
    ]
    # when
    with transaction.atomic():
        events = record_events(AuditContext.worker(task_id="sync-1"), specs)
    seal_events()
    for event in events:
        event.refresh_from_db()
    # then
    assert [(e.sequence, e.target_name, e.team_slug) for e in events] == [
        (2, "pay-a", "payments"),
        (3, "pay-b", ""),
    ]
    assert [e.prev_hash for e in events] == [first.hash, events[0].hash]
    assert verify_chain().as_dict()["valid"] is True


def test_batch_resolves_targets_when_recorded(db):
    # given: the spec is built before its row is saved (as an upsert does)
    team = Team(slug="ops", name="Ops", key_prefix="ops-")
    spec = EventSpec(Action.TEAM_UPDATED, team)
    team.save()
    # when
    with transaction.atomic():
        (event,) = record_events(AuditContext.system("test"), [spec])
    # then
    assert (event.target_id, event.team_slug) == (str(team.pk), "ops")


def test_empty_batch_writes_nothing(db):
    # when
    with transaction.atomic():
        events = record_events(AuditContext.system("test"), [])
    # then
    assert events == []
    assert AuditEvent.objects.count() == 0


def test_batch_with_an_unknown_action_writes_nothing(db):
    # given
    specs = [EventSpec(Action.TEAM_UPDATED, _thing()), EventSpec("team.exploded", _thing())]
    # when
    with pytest.raises(ValueError, match="unknown audit action"), transaction.atomic():
        record_events(AuditContext.system("test"), specs)
    # then
    assert AuditEvent.objects.count() == 0
