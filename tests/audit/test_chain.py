import json
import math
from datetime import datetime, timedelta, timezone

import pytest
from django.db import connection
from django.db.models import DateTimeField, Value

from audit import chain
from audit.chain_selectors import CanonicalTimestamp, canonical_records, verify_chain
from audit.models import AuditEvent
from core.canonical import canonical_bytes, canonical_json
from tests.audit.records import stored_records

GOLDEN_FIELDS = {
    "sequence": 1,
    "occurred_at": "2026-01-31T09:15:02.123456+00:00",
    "actor_id": 7,
    "actor_label": "alice",
    "actor_type": "user",
    "action": "request.submitted",
    "target_type": "approvals.changerequest",
    "target_id": "42",
    "target_name": "key.create pay-orders",
    "team_id": 1,
    "team_slug": "payments",
    "before": None,
    "after": {"state": "pending", "note": "größe"},
    "request_id": "r-1",
    "task_id": "",
    "hsm_request_id": "",
    "client_ip": "10.0.0.5",
    "user_agent": "curl/8",
    "prev_hash": "0" * 64,
}


def test_canonical_form_is_sorted_compact_utf8_json():
    # when
    data = canonical_bytes(GOLDEN_FIELDS)
    # then
    assert (
        data
        == (
            '{"action":"request.submitted","actor_id":7,"actor_label":"alice","actor_type":"user",'
            '"after":{"note":"größe","state":"pending"},"before":null,"client_ip":"10.0.0.5",'
            '"hsm_request_id":"","occurred_at":"2026-01-31T09:15:02.123456+00:00",'
            f'"prev_hash":"{"0" * 64}","request_id":"r-1","sequence":1,"target_id":"42",'
            '"target_name":"key.create pay-orders","target_type":"approvals.changerequest",'
            '"task_id":"","team_id":1,"team_slug":"payments","user_agent":"curl/8"}'
        ).encode()
    )


def test_hash_is_sha256_of_canonical_form():
    # when
    digest = chain.compute_hash(GOLDEN_FIELDS)
    # then: the same value `printf '%s' '<canonical form>' | sha256sum` prints
    assert digest == "9d63681ececf06bbc967aab245e23aa04952d986cf6a5ca60f1430e6f76cb46d"


UTC = timezone.utc


@pytest.mark.parametrize(
    ("_case", "moment", "text"),
    [
        ("utc", datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "2026-01-02T03:04:05.000006+00:00"),
        (
            "whole second",
            datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            "2026-01-02T03:04:05.000000+00:00",
        ),
        (
            "offset",
            datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T03:04:05.000000+00:00",
        ),
    ],
)
def test_timestamps_are_utc_with_microseconds(_case, moment, text):
    assert chain.format_timestamp(moment) == text


def test_naive_timestamp_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        chain.format_timestamp(datetime(2026, 1, 2, 3, 4, 5))


@pytest.mark.parametrize(
    ("_case", "value", "canonical"),
    [
        ("none", None, None),
        ("tuple", {"a": (1, 2)}, {"a": [1, 2]}),
        ("int keys", {1: "x"}, {"1": "x"}),
        ("huge integral float", [1e16, -2.5e20], [10**16, -250000000000000000000]),
        ("negative zero", [-0.0], [0.0]),
        ("ordinary floats", [0.1, 1.0, 1e-7, 123.456], [0.1, 1.0, 1e-7, 123.456]),
    ],
)
def test_data_is_canonicalized_for_jsonb(_case, value, canonical):
    assert chain.canonical_data(value) == canonical


def test_not_a_number_is_refused():
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        chain.canonical_data({"x": math.nan})


def test_intact_records_verify():
    # given
    records = _chain_of(5)
    # when
    report = chain.verify_records(records)
    # then
    assert report.as_dict() == {
        "valid": True,
        "events_checked": 5,
        "first_broken": None,
        "head": {"sequence": 5, "hash": records[-1]["hash"]},
    }


def test_no_records_are_a_valid_empty_chain():
    assert chain.verify_records([]).as_dict() == {
        "valid": True,
        "events_checked": 0,
        "first_broken": None,
        "head": None,
    }


def _edited(records):
    records[2]["after"] = {"state": "approved"}
    return records


def _deleted(records):
    del records[2]
    return records


def _first_deleted(records):
    del records[0]
    return records


def _edited_and_rehashed(records):
    records[2]["after"] = {"state": "approved"}
    records[2]["hash"] = chain.compute_hash(_fields(records[2]))
    return records


def _relinked(records):
    records[2]["prev_hash"] = "f" * 64
    return records


def _swapped(records):
    records[2], records[3] = records[3], records[2]
    return records


def _replayed(records):
    records.insert(3, dict(records[2]))
    return records


@pytest.mark.parametrize(
    ("_case", "tamper", "sequence", "reason"),
    [
        ("edited content", _edited, 3, chain.HASH_MISMATCH),
        ("deleted event", _deleted, 3, chain.GAP),
        ("deleted genesis event", _first_deleted, 1, chain.GAP),
        ("edited and re-hashed", _edited_and_rehashed, 4, chain.BROKEN_LINK),
        ("forged link", _relinked, 3, chain.BROKEN_LINK),
        ("reordered", _swapped, 3, chain.GAP),
        ("replayed", _replayed, 3, chain.OUT_OF_ORDER),
    ],
)
def test_tampering_is_reported_at_first_broken_event(_case, tamper, sequence, reason):
    # given
    records = tamper(_chain_of(6))
    # when
    report = chain.verify_records(records)
    # then
    assert report.valid is False
    assert (report.first_broken.sequence, report.first_broken.reason) == (sequence, reason)
    assert report.events_checked == len(records)


def test_gap_detail_counts_missing_events():
    # given
    records = _chain_of(6)
    del records[1:4]
    # when
    broken = chain.verify_records(records).first_broken
    # then
    assert broken == chain.ChainBreak(2, chain.GAP, "expected event 2, found 5: 3 missing")


def test_partial_export_verifies_without_its_gaps():
    # given: a filtered export, events 2, 3 and 5
    records = [record for record in _chain_of(6) if record["sequence"] in {2, 3, 5}]
    # when
    report = chain.verify_records(records, complete=False)
    # then
    assert (report.valid, report.events_checked, report.head_sequence) == (True, 3, 5)


def test_partial_export_still_checks_each_hash():
    # given
    records = [record for record in _chain_of(6) if record["sequence"] in {2, 5}]
    records[1]["actor_label"] = "mallory"
    # when
    broken = chain.verify_records(records, complete=False).first_broken
    # then
    assert (broken.sequence, broken.reason) == (5, chain.HASH_MISMATCH)


def test_record_missing_a_field_is_refused():
    # given
    records = _chain_of(1)
    del records[0]["user_agent"]
    # when / then
    with pytest.raises(ValueError, match=r"lacks fields \['user_agent'\]"):
        chain.verify_records(records)


def test_chain_in_database_is_valid_after_many_events(write_events):
    # given
    write_events(300, after={"state": "approved"})
    # when
    report = verify_chain(chunk_size=64)
    # then
    assert (report.valid, report.events_checked, report.head_sequence) == (True, 300, 300)


def test_verification_reports_progress_per_chunk(write_events):
    # given
    write_events(10)
    progress = []
    # when
    verify_chain(chunk_size=4, on_progress=progress.append)
    # then
    assert progress == [4, 4, 2]


def _chain_of(count: int) -> list[dict]:
    records, prev_hash = [], chain.GENESIS_HASH
    for sequence in range(1, count + 1):
        fields = {**GOLDEN_FIELDS, "sequence": sequence, "prev_hash": prev_hash}
        fields["after"] = {"state": "pending", "n": sequence}
        prev_hash = chain.compute_hash(fields)
        records.append({**fields, "hash": prev_hash})
    return records


def _fields(record: dict) -> dict:
    return {name: record[name] for name in chain.HASHED_FIELDS}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL formats the time")
@pytest.mark.parametrize(
    ("_case", "moment"),
    [
        ("microseconds", datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("whole second", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("offset", datetime(2026, 1, 2, 5, 4, 5, 7, tzinfo=timezone(timedelta(hours=2)))),
        ("early year", datetime(987, 6, 5, 4, 3, 2, 1, tzinfo=UTC)),
    ],
)
def test_database_formats_timestamps_like_the_chain(_case, moment, write_events):
    # given
    write_events(1)
    stamp = CanonicalTimestamp(Value(moment, output_field=DateTimeField()))
    # when
    text = AuditEvent.objects.annotate(stamp=stamp).values_list("stamp", flat=True).get()
    # then
    assert text == chain.format_timestamp(moment)


def test_canonical_records_match_the_stored_events(write_events, payments_team):
    # given
    write_events(3, team=payments_team, before=None, after={"n": [1, 2.5, "ü"]})
    # when
    records = list(canonical_records(AuditEvent.objects.all(), chunk_size=2))
    # then
    assert records == stored_records()


@pytest.mark.parametrize(
    ("_case", "value"),
    [
        ("nested", {"b": {"d": [1, {"f": None, "e": True}]}, "a": "x"}),
        ("unicode and escapes", {"s": 'größe "quoted"\n\t\u2028 \U0001f511'}),
        ("numbers", [0, -1, 2**70, 0.1, 1e-7, 123456.789]),
        ("empty", [{}, [], ""]),
    ],
)
def test_canonical_json_is_json_dumps_sorted_and_compact(_case, value):
    assert canonical_json(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
