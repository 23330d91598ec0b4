"""Signed checkpoints of the chain's head: signed in the emulator through the SDK by the audit
signer identity, stored append-only in the table and appended to the checkpoint file."""

import json
import threading
from datetime import timedelta

import pytest
from django.db import ProgrammingError, connection, transaction
from django.utils import timezone

from audit import chain, checkpoints
from audit.models import AuditCheckpoint
from audit.services import ChainBroken, record_checkpoint
from keys.gateway import HsmForbidden, build_audit_signer
from keys.hsm_role import AUDIT_SIGNER_DATA_ACTIONS
from keys.services.audit_checkpoints import checkpoint_audit_trail, checkpoint_public_keys
from keys.tasks import checkpoint_audit_trail_task
from tests.support.worker import LiveWorker

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append-only triggers are PostgreSQL's"
)


def test_checkpoint_signs_the_head_with_the_checkpoint_key(write_events, checkpoint, settings):
    # given
    events = write_events(3)
    now = timezone.now()
    # when
    made = checkpoint(now)
    # then
    stored = AuditCheckpoint.objects.get()
    assert (stored.number, stored.head_sequence, stored.head_hash) == (1, 3, events[-1].hash)
    assert stored.signed_at == now
    assert stored.algorithm == "ES256"
    assert stored.key_id.startswith(f"{settings.HSM_URL}/keys/keywarden-audit-checkpoint/")
    assert made == stored
    (record,) = [r for r in checkpoint_records_of_table()]
    assert checkpoints.signature_problem(record, checkpoint_public_keys()) is None


def test_checkpoint_is_appended_to_the_file(write_events, checkpoint, checkpoint_file):
    # given
    write_events(2)
    checkpoint()
    write_events(1)
    # when
    checkpoint()
    # then
    lines = [json.loads(line) for line in checkpoint_file.read_text().splitlines()]
    assert lines == checkpoint_records_of_table()
    assert [line["head_sequence"] for line in lines] == [2, 3]


def test_checkpoint_of_a_head_that_has_one_writes_nothing(write_events, checkpoint):
    # given
    write_events(2)
    first = checkpoint()
    # when
    again = checkpoint()
    # then
    assert again is None
    assert list(AuditCheckpoint.objects.values_list("number", "head_sequence")) == [(1, 2)]
    assert first.number == 1


def test_empty_trail_gets_no_checkpoint(db, checkpoint):
    # when
    made = checkpoint()
    # then
    assert made is None
    assert AuditCheckpoint.objects.exists() is False


@pytest.mark.parametrize(
    ("_case", "events_after", "seconds_after", "due"),
    [
        ("few events, soon", 2, 10, False),
        ("enough events", 5, 10, True),
        ("enough time", 1, 300, True),
        ("time, but no new event", 0, 3600, False),
    ],
)
def test_checkpoint_is_due_after_n_events_or_m_seconds(
    _case, events_after, seconds_after, due, write_events, checkpoint, audit_signer, settings
):
    # given
    settings.AUDIT_CHECKPOINT_EVENTS, settings.AUDIT_CHECKPOINT_SECONDS = 5, 300
    write_events(1)
    first = checkpoint()
    write_events(events_after)
    # when
    made = checkpoint_audit_trail(now=first.signed_at + timedelta(seconds=seconds_after))
    # then
    assert (made is not None) is due
    assert AuditCheckpoint.objects.count() == (2 if due else 1)


def test_first_checkpoint_is_due_at_once(write_events, audit_signer):
    # given
    write_events(1)
    # when
    made = checkpoint_audit_trail(now=timezone.now())
    # then
    assert (made.number, made.head_sequence) == (1, 1)


@postgresql_only
def test_no_checkpoint_over_a_chain_broken_since_the_last_one(write_events, checkpoint, tamper):
    # given
    write_events(2)
    checkpoint()
    write_events(2)
    tamper("UPDATE audit_auditevent SET actor_label = 'mallory' WHERE sequence = 4")
    # when
    with pytest.raises(ChainBroken, match="event #4: hash_mismatch"):
        checkpoint()
    # then
    assert list(AuditCheckpoint.objects.values_list("head_sequence", flat=True)) == [2]


@postgresql_only
@pytest.mark.parametrize(
    ("_case", "sql", "message"),
    [
        ("newest deleted", "DELETE FROM audit_auditevent WHERE sequence > 1", "ends at event #1"),
        ("all deleted", "DELETE FROM audit_auditevent", "the table holds no events"),
    ],
)
def test_no_checkpoint_over_a_chain_behind_the_last_one(
    _case, sql, message, write_events, checkpoint, tamper
):
    # given
    write_events(3)
    checkpoint()
    tamper(sql)
    # when
    with pytest.raises(ChainBroken, match=message):
        checkpoint()
    # then
    assert list(AuditCheckpoint.objects.values_list("head_sequence", flat=True)) == [3]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_store_one_checkpoint_per_head(write_events, audit_signer):
    # given: two runs that both read the head, then both sign before either stores
    write_events(3)
    barrier = threading.Barrier(2, timeout=30)
    results, errors = [], []

    def sign_after_both_read(digest: bytes) -> checkpoints.Signature:
        barrier.wait()
        signed = audit_signer.sign_digest(digest)
        return checkpoints.Signature(signed.key_id, signed.algorithm, signed.signature)

    def run() -> None:
        try:
            results.append(
                record_checkpoint(
                    sign=sign_after_both_read,
                    now=timezone.now(),
                    every_events=1,
                    every_seconds=1,
                    force=True,
                )
            )
        except Exception as exc:  # reported by the assert below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # then
    assert errors == []
    assert sorted(result is None for result in results) == [False, True]
    assert list(AuditCheckpoint.objects.values_list("number", "head_sequence")) == [(1, 3)]


@postgresql_only
@pytest.mark.parametrize(
    ("_case", "sql", "message"),
    [
        ("update", "UPDATE audit_auditcheckpoint SET head_hash = 'x'", "UPDATE of checkpoint 1"),
        ("delete", "DELETE FROM audit_auditcheckpoint", "DELETE of checkpoint 1"),
    ],
)
def test_checkpoints_are_append_only(_case, sql, message, write_events, checkpoint):
    # given
    write_events(1)
    checkpoint()
    before = checkpoint_records_of_table()
    # when
    with (
        pytest.raises(ProgrammingError, match=f"audit_auditcheckpoint is append-only: {message}"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    # then
    assert checkpoint_records_of_table() == before


def test_signer_role_is_sign_and_read_on_the_checkpoint_key_only(hsm, audit_signer, settings):
    # when
    assignments = [
        a
        for a in hsm.admin.list_role_assignments("/")
        if a.principal_id == settings.HSM_AUDIT_PRINCIPAL_ID
    ]
    # then
    assert [a.scope for a in assignments] == ["/keys/keywarden-audit-checkpoint"]
    granted = hsm.admin.effective_data_actions(
        settings.HSM_AUDIT_PRINCIPAL_ID, scope="/keys/keywarden-audit-checkpoint"
    )
    assert granted == set(AUDIT_SIGNER_DATA_ACTIONS)
    assert hsm.admin.effective_data_actions(settings.HSM_AUDIT_PRINCIPAL_ID) == set()


def test_signer_cannot_sign_with_another_key(hsm, audit_signer):
    # given
    hsm.operator.create_key("pay-other", kty="EC-HSM", curve="P-256", key_ops=["sign"])
    other = build_audit_signer(key_name="pay-other")
    seq = hsm.process.latest_seq()
    # when
    with pytest.raises(HsmForbidden):
        other.sign_digest(b"\0" * 32)
    # then
    assert [r["status"] for r in hsm.calls_since(seq) if r["path"].endswith("/sign")] == [403]


def test_keywarden_identity_cannot_sign_checkpoints(hsm, audit_signer, settings):
    # given: Keywarden's key-manager identity, trying the checkpoint key
    keywarden = build_audit_signer(object_id=settings.HSM_PRINCIPAL_ID)
    # when / then
    with pytest.raises(HsmForbidden, match="keys/sign/action"):
        keywarden.sign_digest(b"\0" * 32)


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_beat_task_signs_a_checkpoint_on_a_live_worker(write_events, audit_signer, tmp_path):
    # given: a worker of its own, writing to this test's checkpoint file
    path = tmp_path / "worker-checkpoints.jsonl"
    queue = f"audit-checkpoint-{tmp_path.name}"
    worker = LiveWorker(
        log_dir=tmp_path,
        concurrency=1,
        env={"AUDIT_CHECKPOINT_FILE": str(path)},
        queues=(queue,),
    )
    write_events(2)
    worker.start()
    try:
        # when
        result = checkpoint_audit_trail_task.apply_async(queue=queue).get(timeout=60)
        again = checkpoint_audit_trail_task.apply_async(queue=queue).get(timeout=60)
    finally:
        worker.stop()
    # then
    assert result == {"status": "signed", "number": 1, "head_sequence": 2}
    assert again == {"status": "skipped"}
    assert [json.loads(line) for line in path.read_text().splitlines()] == (
        checkpoint_records_of_table()
    )


def checkpoint_records_of_table() -> list[dict]:
    rows = AuditCheckpoint.objects.order_by("number").values(*checkpoints.FILE_FIELDS)
    return [{**row, "signed_at": chain.format_timestamp(row["signed_at"])} for row in rows]
