"""The hash chain of the audit trail: canonical form, hashing and verification.

Canonical form (version 1) of an event, the bytes that are hashed:

* a JSON object with exactly the keys of `HASHED_FIELDS` (every stored column except `hash`),
  including `prev_hash`, the `hash` of the event with the previous sequence number
  (`GENESIS_HASH`, 64 zeros, for event 1);
* `occurred_at` as ISO-8601 in UTC with microseconds: `2026-01-31T09:15:02.123456+00:00`;
* `actor_id` and `team_id` as integers or null; every other scalar as a string ('' when empty);
* `before` and `after` as JSON values or null, already canonical (see `canonical_data`);
* serialized like Python's `json.dumps(obj, sort_keys=True, separators=(",", ":"),
  ensure_ascii=False)` (keys sorted at every level, no whitespace, non-ASCII kept as is)
  and encoded as UTF-8.

`hash = sha256(canonical bytes).hexdigest()` (64 lowercase hex digits). A JSON Lines export
holds each event's canonical object plus its `hash`, so `verify_records` re-checks it offline.
Editing an event breaks its hash; deleting one leaves a gap in the sequence; re-hashing an
edited event breaks the next event's link. Deleting the newest events,
truncating, or editing and re-hashing every later event is detectable only against a head kept
elsewhere: the signed checkpoints (`audit.checkpoints`) or `audit_verify --expect-head`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from core.canonical import canonical_bytes, canonical_json

GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "sequence",
    "occurred_at",
    "actor_id",
    "actor_label",
    "actor_type",
    "action",
    "target_type",
    "target_id",
    "target_name",
    "team_id",
    "team_slug",
    "before",
    "after",
    "request_id",
    "task_id",
    "hsm_request_id",
    "client_ip",
    "user_agent",
    "prev_hash",
)
RECORD_FIELDS = (*HASHED_FIELDS, "hash")
# The hashed fields in canonical key order: the order of a row for `row_bytes`.
ROW_FIELDS = tuple(sorted(HASHED_FIELDS))
ROW_SEQUENCE = ROW_FIELDS.index("sequence")
ROW_PREV_HASH = ROW_FIELDS.index("prev_hash")
ROW_JSON = (ROW_FIELDS.index("after"), ROW_FIELDS.index("before"))
ROW_INTEGERS = tuple(ROW_FIELDS.index(name) for name in ("actor_id", "sequence", "team_id"))

# Why these reasons: an edit shows as a hash mismatch, a deletion as a gap, an edit that was
# re-hashed as a broken link of the following event.
HASH_MISMATCH = "hash_mismatch"
BROKEN_LINK = "broken_link"
GAP = "gap"
OUT_OF_ORDER = "out_of_order"

_FLOAT_EXPONENT_FROM = 1e16  # repr() switches to 1e+16 notation here; jsonb would print digits


@dataclass(frozen=True)
class ChainBreak:
    """The first event that does not fit the chain, why (`reason`) and a readable `detail`."""

    sequence: int
    reason: str
    detail: str


@dataclass(frozen=True)
class ChainReport:
    """Result of a verification: valid iff no break; `head_*` is the last event read."""

    events_checked: int
    first_broken: ChainBreak | None
    head_sequence: int | None
    head_hash: str | None

    @property
    def valid(self) -> bool:
        return self.first_broken is None

    def as_dict(self) -> dict[str, Any]:
        """The JSON answer of `audit_verify --json` (without checkpoints or an expected head)."""
        broken = self.first_broken
        return {
            "valid": self.valid,
            "events_checked": self.events_checked,
            "first_broken": None
            if broken is None
            else {"sequence": broken.sequence, "reason": broken.reason, "detail": broken.detail},
            "head": None
            if self.head_sequence is None
            else {"sequence": self.head_sequence, "hash": self.head_hash},
        }


def format_timestamp(moment: datetime) -> str:
    """`occurred_at` in canonical form. Raises ValueError for a naive datetime."""
    if moment.utcoffset() is None:
        raise ValueError("audit timestamps must be timezone-aware")
    if moment.utcoffset():
        moment = moment.astimezone(timezone.utc)
    return moment.replace(tzinfo=timezone.utc).isoformat(timespec="microseconds")


def canonical_data(value: Any) -> Any:
    """`value` as the JSON it will be stored and hashed as: UUID, datetime, Decimal … become
    strings (DjangoJSONEncoder), keys strings, tuples lists; integral floats ≥ 1e16 become ints
    and -0.0 becomes 0.0, so PostgreSQL's jsonb gives back exactly what was hashed.

    Raises ValueError for NaN/infinity, TypeError for values JSON cannot express."""
    if value is None:
        return None
    return _jsonb_stable(json.loads(json.dumps(value, cls=DjangoJSONEncoder, allow_nan=False)))


def _jsonb_stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonb_stable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonb_stable(item) for item in value]
    if isinstance(value, float):
        if value == 0:
            return 0.0
        if value.is_integer() and abs(value) >= _FLOAT_EXPONENT_FROM:
            return int(value)
    return value


def compute_hash(fields: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical form of `fields` (exactly the `HASHED_FIELDS` keys)."""
    return hashlib.sha256(canonical_bytes(fields)).hexdigest()


# --- the fast path: rows as tuples, the canonical bytes built directly -------------------------
# `{"action":%s,"actor_id":%s,...}`: each %s gets a value already in JSON (strings escaped as
# json.dumps(ensure_ascii=False) does, integers as digits, null), so the result is byte for
# byte `canonical_bytes` of the record (test_chain pins it) at a fraction of the cost.
_ROW_TEMPLATE = "{" + ",".join(f'"{name}":%s' for name in ROW_FIELDS) + "}"
_encode_string = json.encoder.c_encode_basestring or json.encoder.py_encode_basestring
_ROW_STRINGS = tuple(
    index for index in range(len(ROW_FIELDS)) if index not in ROW_JSON and index not in ROW_INTEGERS
)
_JSON_CACHE_SIZE = 4096


class JsonCanonicalizer:
    """jsonb text (as PostgreSQL prints it: its own key order, spaces) → canonical JSON text;
    recent values are remembered (audit `before`/`after` repeat a lot)."""

    def __init__(self) -> None:
        self.known: dict[str | None, str] = {None: "null"}

    def __call__(self, text: str | None) -> str:
        known = self.known.get(text)
        if known is None:
            if len(self.known) >= _JSON_CACHE_SIZE:
                self.known.clear()
                self.known[None] = "null"
            known = self.known[text] = canonical_json(json.loads(text))
        return known


def _compile_row_bytes() -> Callable[[Any, JsonCanonicalizer], bytes]:
    """`row_bytes` as straight-line code: one tuple unpacking and one %-format per row, JSON
    looked up in the canonicalizer's memory first (the verification loop's cost is per field
    and per call, so no loop over fields)."""
    arguments = []
    for index, name in enumerate(ROW_FIELDS):
        if index in ROW_JSON:
            arguments.append(f"known.get({name}) or canonical({name})")
        elif index in ROW_INTEGERS:
            arguments.append(f"'null' if {name} is None else {name}")
        else:
            arguments.append(f"encode_string({name})")
    source = (
        "def row_bytes(row, canonical):\n"
        f"    {', '.join(ROW_FIELDS)} = row[:{len(ROW_FIELDS)}]\n"
        "    known = canonical.known\n"
        f"    return (template % ({', '.join(arguments)},)).encode('utf-8')\n"
    )
    namespace = {"template": _ROW_TEMPLATE, "encode_string": _encode_string}
    exec(compile(source, "<audit.chain.row_bytes>", "exec"), namespace)  # noqa: S102 - own code
    return namespace["row_bytes"]


row_bytes = _compile_row_bytes()
row_bytes.__doc__ = """The canonical bytes of a row in `ROW_FIELDS` order whose JSON fields are
jsonb text (or None), integers ints or None, everything else strings (timestamp in canonical
form). Byte for byte `canonical_bytes` of the record (test_sealing pins it)."""


def verify_rows(
    rows: Iterable[tuple],
    *,
    after: tuple[int, str] = (0, GENESIS_HASH),
    confirm: Callable[[int], str | None] | None = None,
) -> ChainReport:
    """`verify_pairs` (complete) over rows in `ROW_FIELDS` order plus the stored hash last,
    as `row_bytes` reads them; the same checks and report, several times faster. A mismatch is
    reported only if `confirm(sequence)`, the hash by the reference encoder, differs too: the
    fast path can never invent a break."""
    checked, first_broken = 0, None
    prev_sequence, prev_hash = after
    canonical, sha256 = JsonCanonicalizer(), hashlib.sha256
    for row in rows:
        checked += 1
        sequence, stored_hash = row[ROW_SEQUENCE], row[-1]
        if first_broken is None:
            if sequence != prev_sequence + 1 or row[ROW_PREV_HASH] != prev_hash:
                fields = {"sequence": sequence, "prev_hash": row[ROW_PREV_HASH]}
                first_broken = _first_problem(fields, "", prev_sequence, prev_hash, True)
            if (
                first_broken is None
                and sha256(row_bytes(row, canonical)).hexdigest() != stored_hash
                and (confirm is None or confirm(sequence) != stored_hash)
            ):
                first_broken = ChainBreak(
                    sequence, HASH_MISMATCH, "the stored hash does not match the content"
                )
        prev_sequence, prev_hash = sequence, stored_hash
    return ChainReport(
        events_checked=checked,
        first_broken=first_broken,
        head_sequence=prev_sequence if checked else None,
        head_hash=prev_hash if checked else None,
    )


def verify_records(records: Iterable[dict[str, Any]], *, complete: bool = True) -> ChainReport:
    """Check records (e.g. parsed JSON Lines) in sequence order; reports the first break.

    `complete=True`: the records are the whole chain from event 1, so a missing event is a gap.
    `complete=False` (a filtered export): each record's own hash is checked, and links only
    between consecutive sequence numbers. Raises ValueError for a record missing a field."""
    return verify_pairs(_split_hash(records), complete=complete)


def _split_hash(records: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], str]]:
    for record in records:
        missing = [name for name in RECORD_FIELDS if name not in record]
        if missing:
            raise ValueError(f"audit record lacks fields {missing}: {record!r:.200}")
        yield {name: record[name] for name in HASHED_FIELDS}, record["hash"]


def verify_pairs(
    pairs: Iterable[tuple[dict[str, Any], str]],
    *,
    complete: bool = True,
    after: tuple[int, str] = (0, GENESIS_HASH),
) -> ChainReport:
    """The verification loop over `(hashed fields, stored hash)` pairs; see `verify_records`.

    Every pair is read, so the count and head describe the whole input; the first break is kept.
    `after` (complete only): the event the pairs continue, `(sequence, hash)`; genesis by default.
    """
    checked, first_broken = 0, None
    prev_sequence, prev_hash = after if complete else (None, None)
    for fields, stored_hash in pairs:
        checked += 1
        if first_broken is None:
            first_broken = _first_problem(fields, stored_hash, prev_sequence, prev_hash, complete)
        prev_sequence, prev_hash = fields["sequence"], stored_hash
    return ChainReport(
        events_checked=checked,
        first_broken=first_broken,
        head_sequence=prev_sequence if checked else None,
        head_hash=prev_hash if checked else None,
    )


def _first_problem(
    fields: dict[str, Any],
    stored_hash: str,
    prev_sequence: int | None,
    prev_hash: str | None,
    complete: bool,
) -> ChainBreak | None:
    sequence = fields["sequence"]
    if prev_sequence is not None:
        if sequence <= prev_sequence:
            return ChainBreak(sequence, OUT_OF_ORDER, f"event {sequence} follows {prev_sequence}")
        if complete and sequence != prev_sequence + 1:
            missing = sequence - prev_sequence - 1
            detail = f"expected event {prev_sequence + 1}, found {sequence}: {missing} missing"
            return ChainBreak(prev_sequence + 1, GAP, detail)
        if sequence == prev_sequence + 1 and fields["prev_hash"] != prev_hash:
            detail = f"prev_hash is not the hash of event {prev_sequence} ({prev_hash})"
            return ChainBreak(sequence, BROKEN_LINK, detail)
    if hashlib.sha256(canonical_bytes(fields)).hexdigest() != stored_hash:
        return ChainBreak(sequence, HASH_MISMATCH, "the stored hash does not match the content")
    return None
