"""Appends without a chain lock: unsealed inserts, one sealer, the seal-only trigger, backlog."""

import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.db import ProgrammingError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit import Target, chain
from audit.actions import Action
from audit.chain_selectors import verify_chain
from audit.context import AuditContext
from audit.models import AuditEvent
from audit.sealer import SEALER_LOCK_KEY
from audit.selectors import unsealed_backlog
from audit.services import (
    CHAIN_LOCK_KEY,
    EventSpec,
    record_event,
    record_events,
    seal_events,
)
from audit.verification import start_verification
from core.canonical import canonical_bytes
from tests.support.worker import subprocess_env

# Try to lead once a minute; leading, look for unsealed events every 50 ms.
SEALER_TIMING = ("--poll-seconds", "60", "--look-seconds", "0.05")
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="unsealed appends are PostgreSQL's"
)


TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "BEGIN", "COMMIT")


def _spec(label: str, number: int) -> EventSpec:
    return EventSpec(Action.TEAM_UPDATED, Target("test.thing", str(number), label))


@postgresql_only
def test_a_batch_is_one_insert_and_takes_no_lock(db):
    # when
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        events = record_events(AuditContext.system("w"), [_spec("w", n) for n in range(3)])
    # then: one statement, and the events wait unsealed for the sealer
    statements = [
        q["sql"] for q in queries.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)
    ]
    assert len(statements) == 1
    assert statements[0].startswith("INSERT INTO audit_auditevent ")
    # no lock, and no NOTIFY (PostgreSQL would serialise the commits of notifying transactions)
    assert "advisory" not in statements[0]
    assert "notify" not in statements[0].lower()
    assert [(e.sequence, e.prev_hash, e.hash) for e in events] == [(None, None, None)] * 3
    assert unsealed_backlog().count == 3


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_writer_never_waits_for_a_sealer_holding_the_lock():
    # given: another session holds the chain lock (a sealer at work)
    holder = connections.create_connection("default")
    holder.ensure_connection()
    with holder.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [CHAIN_LOCK_KEY])
    try:
        # when: a writer commits with a 2 s statement timeout
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = '2s'")
            record_event(AuditContext.system("w"), Action.TEAM_UPDATED, target=_spec("w", 1).target)
        # then: committed, not sealed (nobody seals while the chain lock is held)
        assert unsealed_backlog().count == 1
    finally:
        with holder.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [CHAIN_LOCK_KEY])
        holder.close()
    # and the next sealer chains it
    seal_events()
    assert verify_chain().as_dict()["head"]["sequence"] == 1
    assert unsealed_backlog().count == 0


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_eight_connections_are_sealed_into_one_gapless_chain_by_the_sealer_process():
    # given: a sealer process that only looks for unsealed events (no writer wakes it)
    sealer = subprocess.Popen(
        [sys.executable, "manage.py", "audit_sealer", *SEALER_TIMING],
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    writers, batches = 8, 20
    barrier = threading.Barrier(writers)
    failures = []

    def write(label: str) -> None:
        try:
            barrier.wait(timeout=30)
            for number in range(batches):
                with transaction.atomic():
                    record_events(
                        AuditContext.system(label), [_spec(label, number), _spec(label, number)]
                    )
        except Exception as exc:  # reported by the assertion below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(f"w{n}",)) for n in range(writers)]
    try:
        # it runs (its signal handlers are in place), and it leads (or stands by behind the live
        # worker's sealer, when that one runs)
        assert sealer.stdout.readline() == "audit sealer: started\n", sealer.poll()
        assert _wait_for_a_leading_sealer(timeout=60), sealer.poll()
        # when: the writers commit (none of them seals)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        # then: the sealer chains them all within a few seconds of the last commit
        deadline = time.monotonic() + 10
        while unsealed_backlog().count and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sealer.terminate()
        output, _ = sealer.communicate(timeout=10)
    assert failures == []
    assert unsealed_backlog().count == 0, output
    report = verify_chain()
    assert (report.valid, report.events_checked, report.head_sequence) == (True, 320, 320)
    for label in (f"w{n}" for n in range(writers)):
        rows = AuditEvent.objects.filter(actor_label=label).order_by("id")
        sequences = list(rows.values_list("sequence", flat=True))
        assert sequences == sorted(sequences)  # each writer's events in its own order
        assert len(sequences) == 2 * batches
    # and SIGTERM stops it cleanly
    assert sealer.returncode == 0, output


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_worker_runs_the_sealer_which_seals_a_commit_within_a_second(live_worker):
    # given: the sealer the worker started leads
    assert _wait_for_a_leading_sealer(timeout=60), live_worker.log_tail()
    # when
    with transaction.atomic():
        record_event(AuditContext.system("w"), Action.TEAM_UPDATED, target=_spec("w", 1).target)
    committed = time.monotonic()
    # then: sealed well before the standby's 2 s poll (the leader looks every 50 ms)
    while unsealed_backlog().count and time.monotonic() - committed < 1:
        time.sleep(0.02)
    assert unsealed_backlog().count == 0
    assert verify_chain().head_sequence == 1


def _wait_for_a_leading_sealer(timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                "AND granted AND ((classid::bigint << 32) | objid::bigint) = %s)",
                [SEALER_LOCK_KEY],
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.1)
    return False


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_batch_never_appears_not_even_unsealed():
    # when
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        record_events(AuditContext.system("w"), [_spec("w", 1), _spec("w", 2)])
        _ = 1 / 0
    seal_events()
    # then
    assert AuditEvent.objects.count() == 0
    assert verify_chain().events_checked == 0


@postgresql_only
def test_unsealed_events_are_outside_verification_and_reported_as_backlog(write_events):
    # given: two sealed events, then one committed but not sealed yet
    write_events(2)
    with transaction.atomic():
        record_event(AuditContext.system("late"), Action.TEAM_UPDATED, target=_spec("x", 3).target)
    (pending,) = AuditEvent.objects.filter(sequence__isnull=True)
    now = pending.occurred_at + timedelta(seconds=4)
    # when
    run = start_verification(now=now)
    report = verify_chain()
    # then
    assert (report.valid, report.events_checked, report.head_sequence) == (True, 2, 2)
    assert (run.to_sequence, run.unsealed_count, run.unsealed_age_seconds) == (2, 1, 4.0)
    assert unsealed_backlog().as_dict(now) == {"count": 1, "oldest_age_seconds": 4.0}
    # and once sealed it is the chain's next event
    assert seal_events() == 1
    pending.refresh_from_db()
    assert (pending.sequence, pending.prev_hash) == (3, AuditEvent.objects.get(sequence=2).hash)
    assert unsealed_backlog().count == 0


@postgresql_only
def test_the_verification_api_reports_the_backlog(write_events, auditor, api_client_for):
    # given
    write_events(1)
    with transaction.atomic():
        record_event(AuditContext.system("late"), Action.TEAM_UPDATED, target=_spec("x", 2).target)
    client = api_client_for(auditor)
    # when
    started = client.post("/api/v1/audit/verify/", {"full": False}, format="json")
    # then
    assert started.status_code == 202, started.content
    assert started.json()["to_sequence"] == 1
    assert started.json()["unsealed"]["count"] == 1
    assert started.json()["unsealed"]["oldest_age_seconds"] >= 0


@postgresql_only
@pytest.mark.parametrize(
    ("_case", "sql", "message"),
    [
        (
            "a second seal",
            "UPDATE audit_auditevent SET sequence = 9, prev_hash = hash WHERE sequence = 1",
            "UPDATE of audit event 1 refused",
        ),
        (
            "a sealed row's hash",
            "UPDATE audit_auditevent SET hash = repeat('0', 64) WHERE sequence = 1",
            "UPDATE of audit event 1 refused",
        ),
        (
            "an unsealed row's content",
            "UPDATE audit_auditevent SET actor_label = 'x' WHERE sequence IS NULL",
            r"UPDATE of audit event \(unsealed, id \d+\) refused",
        ),
        (
            "a seal that also edits",
            "UPDATE audit_auditevent SET sequence = 2, prev_hash = 'a', hash = 'b', "
            "target_name = 'other' WHERE sequence IS NULL",
            r"UPDATE of audit event \(unsealed, id \d+\) refused",
        ),
        (
            "a seal of only the sequence",
            "UPDATE audit_auditevent SET sequence = 2 WHERE sequence IS NULL",
            "audit_event_sealed_whole|refused",
        ),
        (
            "unsealing",
            "UPDATE audit_auditevent SET sequence = NULL, prev_hash = NULL, hash = NULL "
            "WHERE sequence = 1",
            "UPDATE of audit event 1 refused",
        ),
    ],
)
def test_the_trigger_lets_only_one_seal_through(_case, sql, message, write_events):
    # given: event 1 sealed, one event unsealed
    write_events(1)
    with transaction.atomic():
        record_event(AuditContext.system("w"), Action.TEAM_UPDATED, target=_spec("w", 2).target)
    before = list(AuditEvent.objects.order_by("id").values_list("sequence", "target_name", "hash"))
    # when
    with (
        pytest.raises(Exception, match=message) as refused,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    # then
    assert refused.type.__name__ in {"ProgrammingError", "IntegrityError"}
    after = list(AuditEvent.objects.order_by("id").values_list("sequence", "target_name", "hash"))
    assert after == before


@postgresql_only
def test_the_sealers_update_is_the_one_the_trigger_allows(db):
    # given
    with transaction.atomic():
        record_event(AuditContext.system("w"), Action.TEAM_UPDATED, target=_spec("w", 1).target)
    # when / then: sealing is allowed once, a second try finds nothing to seal
    assert seal_events() == 1
    assert seal_events() == 0
    with (
        pytest.raises(ProgrammingError, match="UPDATE of audit event 1 refused"),
        transaction.atomic(),
    ):
        AuditEvent.objects.filter(sequence=1).update(sequence=5)


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        'quote " and backslash \\ and slash /',
        "control \x00\x01\x1f\x7f tab\t newline\n",
        "ünïcödé 🔑 \u2028\u2029",
        "",
    ],
)
def test_the_fast_canonical_form_is_byte_for_byte_the_reference(text):
    # given: a record and the same as a row (JSON as jsonb text in PostgreSQL's own layout)
    record = {
        "sequence": 12,
        "occurred_at": chain.format_timestamp(timezone.now()),
        "actor_id": None,
        "actor_label": text,
        "actor_type": "user",
        "action": "team.updated",
        "target_type": "test.thing",
        "target_id": "7",
        "target_name": text,
        "team_id": 3,
        "team_slug": "payments",
        "before": None,
        "after": {"z": [1, 2.5, None, True, text], "a": {"y": -0.5, "b": 10**20}, "": ""},
        "request_id": text,
        "task_id": "",
        "hsm_request_id": "",
        "client_ip": "10.0.0.1",
        "user_agent": text,
        "prev_hash": "f" * 64,
    }
    jsonb_text = '{"": "", "a": {"b": 100000000000000000000, "y": -0.5}, "z": [1, 2.5, null, true, '
    jsonb_text += f"{chain.json.dumps(text, ensure_ascii=False)}]}}"
    row = [record[name] for name in chain.ROW_FIELDS]
    row[chain.ROW_FIELDS.index("after")] = jsonb_text
    # when
    fast = chain.row_bytes(row, chain.JsonCanonicalizer())
    # then
    assert fast == canonical_bytes(record)
