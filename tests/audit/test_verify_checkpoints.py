"""`audit_verify` against signed checkpoints: what the chain alone cannot see.

Tampering bypasses the triggers as a superuser would (`tamper`). Once a checkpoint covers the
events, deleting the newest ones, truncating, or editing one and re-hashing every later one is
reported; an event appended after the last checkpoint (insert-only forgery) is not — nothing can
tell it from a real one until a checkpoint covers it, and then it is covered as it stands.
"""

import io
import json
import re

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from audit import Target, chain, checkpoints
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_checkpoint, record_event
from keys.gateway import build_audit_signer
from tests.audit.records import stored_records
from tests.support.hsm import OUT_OF_BAND_OID

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="tampering bypasses PostgreSQL's triggers"
)


def verify(*args: str) -> tuple[list[str], CommandError | None]:
    out = io.StringIO()
    try:
        call_command("audit_verify", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue().splitlines(), exc
    return out.getvalue().splitlines(), None


def problems(*args: str) -> list[dict]:
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("audit_verify", "--json", *args, stdout=out)
    return json.loads(out.getvalue())["problems"]


def test_intact_trail_with_checkpoints_is_valid(write_events, checkpoint):
    # given
    write_events(3)
    checkpoint()
    write_events(2)  # after the checkpoint: not covered yet, and fine
    # when
    lines, error = verify()
    # then
    assert error is None
    assert lines[1:] == [
        "Checked 1 signed checkpoints. Latest: 1 at event #3.",
        "Audit chain valid.",
    ]


def test_json_report_lists_checkpoints_and_problems(write_events, checkpoint):
    # given
    events = write_events(2)
    checkpoint()
    out = io.StringIO()
    # when
    call_command("audit_verify", "--json", stdout=out)
    # then
    assert json.loads(out.getvalue()) == {
        "valid": True,
        "events_checked": 2,
        "first_broken": None,
        "head": {"sequence": 2, "hash": events[-1].hash},
        "checkpoints_checked": 1,
        "problems": [],
    }


@pytest.mark.parametrize("removed", [1, 5, 50])
def test_deleting_the_newest_events_is_reported(removed, write_events, checkpoint, tamper):
    # given
    write_events(60)
    checkpoint()
    tamper("DELETE FROM audit_auditevent WHERE sequence > %s", [60 - removed])
    # when
    lines, error = verify()
    # then: the chain itself still verifies; only the checkpoint tells
    assert lines[0].startswith(f"Checked {60 - removed} events in ")
    assert error.returncode == 1
    assert str(error) == (
        f"Audit trail check failed: head_behind_checkpoint: the chain ends at event "
        f"#{60 - removed}, but checkpoint 1 covers #60: events #{61 - removed}..#60 were removed"
    )


def test_truncating_the_events_is_reported(write_events, checkpoint, tamper):
    # given
    write_events(4)
    checkpoint()
    tamper("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks: TRUNCATE may run
    tamper("TRUNCATE audit_auditevent")
    # when
    found = problems()
    # then
    assert found == [
        {
            "rule": "trail_truncated",
            "detail": "the table holds no events, but checkpoint 1 covers events 1..4",
        }
    ]


def test_truncating_events_and_checkpoints_is_reported_from_the_file(
    write_events, checkpoint, tamper, checkpoint_file
):
    # given
    write_events(4)
    checkpoint()
    tamper("SET CONSTRAINTS ALL IMMEDIATE")
    tamper("TRUNCATE audit_auditevent, audit_auditcheckpoint")
    # when
    found = problems()
    # then
    assert [problem["rule"] for problem in found] == ["checkpoint_row_removed", "trail_truncated"]
    assert found[0]["detail"] == f"checkpoint 1 of {checkpoint_file} is not in the table"


def test_editing_an_event_and_rehashing_every_later_one_is_reported(
    write_events, checkpoint, tamper
):
    # given
    events = write_events(6)
    checkpoint()
    rehash_from(tamper, 3, actor_label="carol")
    # when
    lines, error = verify()
    # then: a valid chain, but not the one that was signed
    assert lines[0].startswith("Checked 6 events in ")
    assert error is not None
    assert re.fullmatch(
        rf"Audit trail check failed: checkpoint_head_mismatch: event #6 has hash [0-9a-f]{{64}}, "
        rf"but checkpoint 1 says {events[-1].hash}: events up to #6 were changed",
        str(error),
    )


def test_forged_insert_after_the_last_checkpoint_goes_unnoticed(write_events, checkpoint):
    # given: the app role's INSERT alone appends a well-formed event
    write_events(3)
    checkpoint()
    with transaction.atomic():
        record_event(AuditContext.system("forger"), Action.TEAM_UPDATED, target=forged())
    # when
    lines, error = verify()
    # then: what the chain cannot prevent; the checkpoints (README) bound it
    assert error is None
    assert lines[-1] == "Audit chain valid."


def test_checkpoint_signed_by_another_hsm_key_is_reported(write_events, audit_signer, hsm):
    # given: someone with sign rights on another key stores a checkpoint (INSERT is enough)
    write_events(2)
    hsm.operator.create_key("rogue-checkpoint", kty="EC-HSM", curve="P-256", key_ops=["sign"])
    rogue = build_audit_signer(object_id=OUT_OF_BAND_OID, key_name="rogue-checkpoint")
    record_checkpoint(sign=signer_of(rogue), now=timezone.now(), every_events=1, every_seconds=1)
    # when
    found = problems("--checkpoint-file", "")
    # then
    assert [problem["rule"] for problem in found] == ["checkpoint_signature_invalid"]
    assert found[0]["detail"].startswith("checkpoint 1: key ")
    assert found[0]["detail"].endswith(
        "cannot verify it: it is not a version of the checkpoint key "
        f"{audit_signer.url}/keys/keywarden-audit-checkpoint"
    )


def test_checkpoint_claiming_the_checkpoint_key_but_signed_elsewhere_is_reported(
    write_events, checkpoint, audit_signer
):
    # given: a forger's own key, and the real key id written next to its signature
    write_events(2)
    real_key_id = checkpoint().key_id
    write_events(1)
    forger = ec.generate_private_key(ec.SECP256R1())

    def sign(digest: bytes) -> checkpoints.Signature:
        der = forger.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        r, s = utils.decode_dss_signature(der)
        return checkpoints.Signature(real_key_id, "ES256", r.to_bytes(32) + s.to_bytes(32))

    record_checkpoint(sign=sign, now=timezone.now(), every_events=1, every_seconds=1)
    # when
    found = problems()
    # then
    assert found == [
        {
            "rule": "checkpoint_signature_invalid",
            "detail": f"checkpoint 2: the signature does not verify with key {real_key_id}",
        }
    ]


def test_removed_checkpoint_row_is_reported(write_events, checkpoint, tamper, checkpoint_file):
    # given
    for _ in range(3):
        write_events(2)
        checkpoint()
    tamper("DELETE FROM audit_auditcheckpoint WHERE number = 2")
    # when
    found = problems()
    # then
    assert found == [
        {
            "rule": "checkpoint_row_removed",
            "detail": f"checkpoint 2 of {checkpoint_file} is not in the table",
        },
        {"rule": "checkpoint_missing", "detail": "checkpoints 2..2 are missing from the table"},
    ]


def test_removed_newest_checkpoint_and_events_are_reported_from_the_file(
    write_events, checkpoint, tamper, checkpoint_file
):
    # given: the newest events and the checkpoint covering them both removed
    write_events(2)
    checkpoint()
    write_events(3)
    checkpoint()
    tamper("DELETE FROM audit_auditcheckpoint WHERE number = 2")
    tamper("DELETE FROM audit_auditevent WHERE sequence > 2")
    # when
    found = problems()
    # then
    assert [problem["rule"] for problem in found] == [
        "checkpoint_row_removed",
        "head_behind_checkpoint",
    ]


def test_removed_middle_checkpoint_row_is_a_gap_without_the_file(write_events, checkpoint, tamper):
    # given
    for _ in range(3):
        write_events(1)
        checkpoint()
    tamper("DELETE FROM audit_auditcheckpoint WHERE number = 2")
    # when
    found = problems("--checkpoint-file", "")
    # then
    assert found == [
        {"rule": "checkpoint_missing", "detail": "checkpoints 2..2 are missing from the table"}
    ]


def test_expected_head_that_matches_is_valid(write_events):
    # given
    events = write_events(3)
    # when
    lines, error = verify("--expect-head", f"3:{events[-1].hash}")
    # then
    assert error is None
    assert lines[1:] == ["Checked 0 signed checkpoints.", "Audit chain valid."]


@pytest.mark.parametrize(
    ("_case", "expected", "detail"),
    [
        (
            "other hash",
            "2:" + "ab" * 32,
            "event #2 has hash {hash2}, but the expected head says " + "ab" * 32 + ": "
            "events up to #2 were changed",
        ),
        (
            "beyond the chain",
            "4:" + "cd" * 32,
            "the chain ends at event #3, but the expected head covers #4: "
            "events #4..#4 were removed",
        ),
    ],
)
def test_expected_head_mismatch_is_reported(_case, expected, detail, write_events):
    # given
    events = write_events(3)
    # when
    lines, error = verify("--expect-head", expected)
    # then
    message = detail.format(hash2=events[1].hash)
    assert error.returncode == 1
    assert str(error) == f"Audit trail check failed: expected_head_mismatch: {message}"
    assert lines[-1] == f"PROBLEM expected_head_mismatch: {message}"


def test_malformed_expected_head_is_refused(db):
    # when
    lines, error = verify("--expect-head", "three")
    # then
    assert str(error) == "--expect-head must look like SEQ:HASH (a number, 64 hex digits)"
    assert lines == []


# --- helpers --------------------------------------------------------------------------------------
def rehash_from(tamper, sequence: int, **changes) -> None:
    """Edit event `sequence` and recompute its hash and every later link and hash, as an
    attacker with the owner's rights would: the chain verifies again."""
    records = stored_records()
    prev_hash = records[sequence - 2]["hash"] if sequence > 1 else chain.GENESIS_HASH
    for record in records[sequence - 1 :]:
        fields = {name: record[name] for name in chain.HASHED_FIELDS}
        if record["sequence"] == sequence:
            fields.update(changes)
        fields["prev_hash"] = prev_hash
        prev_hash = chain.compute_hash(fields)
        assignments = ", ".join(f"{name} = %s" for name in changes)
        values = [fields[name] for name in changes] if record["sequence"] == sequence else []
        sets = f"{assignments}, " if values else ""
        tamper(
            f"UPDATE audit_auditevent SET {sets}prev_hash = %s, hash = %s WHERE sequence = %s",  # noqa: S608 - our column names
            [*values, fields["prev_hash"], prev_hash, record["sequence"]],
        )


def signer_of(hsm_signer) -> checkpoints.Signer:
    def sign(digest: bytes) -> checkpoints.Signature:
        signed = hsm_signer.sign_digest(digest)
        return checkpoints.Signature(signed.key_id, signed.algorithm, signed.signature)

    return sign


def forged() -> Target:
    return Target("test.thing", "forged", "forged thing")
