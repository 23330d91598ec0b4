import io
import json
import re
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit import chain
from tests.audit.records import hashed_fields
from tests.support.worker import ROOT, subprocess_env

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="tampering bypasses PostgreSQL's triggers"
)


def test_verify_reports_an_intact_chain(write_events):
    # given
    events = write_events(5)
    out = io.StringIO()
    # when
    call_command("audit_verify", stdout=out)
    # then
    summary, verdict = out.getvalue().splitlines()
    assert summary.startswith("Checked 5 events in ")
    assert summary.endswith(f"events/s). Head #5 {events[-1].hash}.")
    assert verdict == "Audit chain valid."


def test_verify_of_an_empty_trail_is_valid(db):
    # given
    out = io.StringIO()
    # when
    call_command("audit_verify", stdout=out)
    # then
    assert out.getvalue().splitlines()[1] == "Audit chain valid."


def test_verify_prints_json_report(write_events):
    # given
    events = write_events(2)
    out = io.StringIO()
    # when
    call_command("audit_verify", "--json", stdout=out)
    # then
    assert json.loads(out.getvalue()) == {
        "valid": True,
        "events_checked": 2,
        "first_broken": None,
        "head": {"sequence": 2, "hash": events[-1].hash},
    }


def _edit_after_data(tamper, events):
    tamper("UPDATE audit_auditevent SET after = %s WHERE sequence = 3", ['{"state": "approved"}'])


def _delete_event(tamper, events):
    tamper("DELETE FROM audit_auditevent WHERE sequence = 3")


def _edit_and_rehash(tamper, events):
    fields = {**hashed_fields(events[2]), "actor_label": "carol"}
    tamper(
        "UPDATE audit_auditevent SET actor_label = 'carol', hash = %s WHERE sequence = 3",
        [chain.compute_hash(fields)],
    )


@postgresql_only
@pytest.mark.parametrize(
    ("_case", "tampering", "message", "checked"),
    [
        ("edited after-data", _edit_after_data, "event #3: hash_mismatch", 5),
        ("deleted event", _delete_event, "event #3: gap (expected event 3, found 4: 1 missing)", 4),
        ("edited and re-hashed", _edit_and_rehash, "event #4: broken_link", 5),
    ],
)
def test_verify_finds_tampering_behind_the_triggers(
    _case, tampering, message, checked, write_events, tamper
):
    # given
    events = write_events(5, after={"state": "pending"})
    tampering(tamper, events)
    out = io.StringIO()
    # when
    with pytest.raises(CommandError, match=re.escape(f"Audit chain broken at {message}")) as raised:
        call_command("audit_verify", stdout=out)
    # then
    assert raised.value.returncode == 1
    assert out.getvalue().startswith(f"Checked {checked} events in ")


@postgresql_only
def test_verify_json_report_names_the_first_broken_event(write_events, tamper):
    # given
    write_events(4)
    _delete_event(tamper, None)
    out = io.StringIO()
    # when
    with pytest.raises(CommandError):
        call_command("audit_verify", "--json", stdout=out)
    # then
    assert json.loads(out.getvalue())["first_broken"] == {
        "sequence": 3,
        "reason": "gap",
        "detail": "expected event 3, found 4: 1 missing",
    }


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_verify_exits_non_zero_on_tampering(write_events, tamper):
    # given: committed events, one edited behind the triggers
    write_events(3)
    _edit_after_data(tamper, None)
    # when
    result = subprocess.run(
        [sys.executable, "manage.py", "audit_verify"],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    # then
    assert result.returncode == 1
    assert result.stdout.startswith("Checked 3 events in ")
    assert result.stderr.strip() == (
        "CommandError: Audit chain broken at event #3: hash_mismatch "
        "(the stored hash does not match the content)"
    )


def test_export_jsonl_file_reverifies_offline(write_events, tmp_path):
    # given
    events = write_events(4, after={"state": "approved", "note": "größe"})
    path = tmp_path / "audit.jsonl"
    # when
    call_command("audit_export", "--format", "jsonl", "--output", str(path), stderr=io.StringIO())
    # then
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [record["sequence"] for record in records] == [1, 2, 3, 4]
    assert chain.verify_records(records).as_dict() == {
        "valid": True,
        "events_checked": 4,
        "first_broken": None,
        "head": {"sequence": 4, "hash": events[-1].hash},
    }


def test_export_csv_to_stdout_has_header_and_rows(write_events):
    # given
    write_events(3)
    out = io.StringIO()
    # when
    call_command("audit_export", "--format", "csv", stdout=out)
    # then
    lines = out.getvalue().splitlines()
    assert lines[0] == ",".join(chain.RECORD_FIELDS)
    assert len(lines) == 4
