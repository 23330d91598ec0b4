"""Read-side queries of the audit trail: what a user may see, canonical rows, verification of the
chain and of its signed checkpoints."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db import connections, router
from django.db.models import Count, F, Func, Min, Q, QuerySet, TextField
from django.db.models.functions import Cast

from accounts.models import User
from accounts.roles import AUDIT_READ_ALL_ROLES, AUDIT_READ_REQUESTS_AND_KEYS_ROLES
from accounts.selectors import teams_of
from audit import chain, checkpoints
from audit.models import AuditCheckpoint, AuditEvent, VerificationRun

# A range of the chain smaller than this is not worth a verifying process of its own.
PARALLEL_MIN_EVENTS = 50_000
# What a custodian may act on: change requests and keys, of every team.
CUSTODIAN_TARGET_TYPES = ("approvals.changerequest", "keys.managedkey")


class CanonicalTimestamp(Func):
    """PostgreSQL renders a timestamptz exactly as `chain.format_timestamp` does: it is faster
    than parsing a datetime in Python only to format it again."""

    template = (
        """to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
    )
    output_field = TextField()


def events_visible_to(user: User) -> QuerySet[AuditEvent]:
    """Events the user may read: all for auditors and admins; otherwise their teams' events,
    plus, for custodians, every event about a change request or a key. Others see none."""
    if user.roles & AUDIT_READ_ALL_ROLES:
        return AuditEvent.objects.all()
    scope = Q(team__in=teams_of(user).values("pk"))
    if user.roles & AUDIT_READ_REQUESTS_AND_KEYS_ROLES:
        scope |= Q(target_type__in=CUSTODIAN_TARGET_TYPES)
    return AuditEvent.objects.filter(scope)


def last_event_time(action: str) -> datetime | None:
    """When the newest event named `action` was recorded, sealed or not (None: never)."""
    return (
        AuditEvent.objects.filter(action=action)
        .order_by("-id")
        .values_list("occurred_at", flat=True)
        .first()
    )


def newest_first(events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
    """Events newest first: the unsealed ones (newest, by insertion), then by sequence."""
    return events.order_by(F("sequence").desc(nulls_first=True), "-id")


def oldest_first(events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
    """Events in chain order, the unsealed ones (not in the chain yet) last by insertion."""
    return events.order_by(F("sequence").asc(nulls_last=True), "id")


@dataclass(frozen=True)
class Backlog:
    """Events committed but not sealed yet: how many, and when the oldest was recorded."""

    count: int
    oldest_at: datetime | None

    def age_seconds(self, now: datetime) -> float | None:
        return None if self.oldest_at is None else max((now - self.oldest_at).total_seconds(), 0)

    def as_dict(self, now: datetime) -> dict[str, Any]:
        age = self.age_seconds(now)
        return {"count": self.count, "oldest_age_seconds": None if age is None else round(age, 3)}


def unsealed_backlog() -> Backlog:
    """The sealer's backlog (`audit.services.seal_events`), from its partial index."""
    found = AuditEvent.objects.filter(sequence__isnull=True).aggregate(
        count=Count("id"), oldest_at=Min("occurred_at")
    )
    return Backlog(found["count"], found["oldest_at"])


def chain_head() -> tuple[int, str] | None:
    """(sequence, hash) of the newest sealed event; None while none is sealed."""
    return (
        AuditEvent.objects.filter(sequence__isnull=False)
        .order_by("-sequence")
        .values_list("sequence", "hash")
        .first()
    )


def chain_head_at() -> datetime | None:
    """When the newest sealed event was recorded (None while none is sealed)."""
    return (
        AuditEvent.objects.filter(sequence__isnull=False)
        .order_by("-sequence")
        .values_list("occurred_at", flat=True)
        .first()
    )


def latest_checkpoint_at() -> datetime | None:
    """When the newest signed checkpoint was signed (None: none yet)."""
    return AuditCheckpoint.objects.order_by("-number").values_list("signed_at", flat=True).first()


def latest_verification() -> VerificationRun | None:
    """The newest verification run, running or finished (None: none yet)."""
    return VerificationRun.objects.order_by("-started_at").first()


def canonical_records(queryset: QuerySet[AuditEvent], *, chunk_size: int) -> Iterator[dict]:
    """Events of `queryset` by sequence as records (`chain.RECORD_FIELDS` → canonical values:
    timestamp text, parsed JSON), streamed in constant memory: a server-side cursor on
    PostgreSQL, no model instances, no per-field converters. Sealed events only: an unsealed
    one is not in the chain yet (exports and verification cover the chain)."""
    on_postgresql = connections[queryset.db].vendor == "postgresql"
    columns = {name: name for name in chain.RECORD_FIELDS}
    annotations = {"_before": Cast("before", TextField()), "_after": Cast("after", TextField())}
    columns.update(before="_before", after="_after")
    if on_postgresql:
        annotations["_occurred_at"] = CanonicalTimestamp("occurred_at")
        columns["occurred_at"] = "_occurred_at"
    rows = (
        queryset.filter(sequence__isnull=False)
        .order_by("sequence")
        .annotate(**annotations)
        .values_list(*columns.values())
        .iterator(chunk_size=chunk_size)
    )
    loads, format_timestamp, names = json.loads, chain.format_timestamp, chain.RECORD_FIELDS
    for row in rows:
        record = dict(zip(names, row, strict=True))
        if not on_postgresql:
            record["occurred_at"] = format_timestamp(record["occurred_at"])
        if record["before"] is not None:
            record["before"] = loads(record["before"])
        if record["after"] is not None:
            record["after"] = loads(record["after"])
        yield record


def verify_chain(
    *,
    chunk_size: int = 5000,
    on_progress: Callable[[int], None] | None = None,
    after: tuple[int, str] = (0, chain.GENESIS_HASH),
    up_to: int | None = None,
    processes: int = 1,
    min_range: int = PARALLEL_MIN_EVENTS,
) -> chain.ChainReport:
    """Walk the chain, recompute every hash and check sequence and links.

    Reads one consistent snapshot (events appended meanwhile are not included); `on_progress`
    gets the number of events read since its previous call, once per chunk. `after` (sequence,
    hash): start after that event, linked to its hash (the whole chain by default); `up_to`:
    stop at that sequence (the newest event by default). Sealed events only (see
    `unsealed_backlog`). On PostgreSQL rows come as tuples (timestamp and JSON as text) from a
    server-side cursor of their own, the canonical bytes built directly (`chain.verify_rows`),
    a mismatch confirmed by the reference encoder before it is reported. `processes` > 1 (and
    at least `min_range` events per process, outside a transaction, not from a daemonic
    process such as a Celery pool child): contiguous ranges checked in that many processes and
    joined at their boundaries (`_verify_ranges`); `on_progress` then hears once per range."""
    connection = connections[router.db_for_read(AuditEvent)]
    if processes > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block:
        ranges = _parallel_ranges(after, up_to, processes, min_range)
        if len(ranges) > 1:
            return _verify_ranges(ranges, chunk_size, on_progress)
    if connection.vendor == "postgresql":
        rows = _chain_rows(connection, after[0], up_to, chunk_size)
        if on_progress is not None:
            rows = _reporting(rows, on_progress, every=chunk_size)
        return chain.verify_rows(rows, after=after, confirm=_reference_hash)
    events = AuditEvent.objects.filter(sequence__gt=after[0])
    if up_to is not None:
        events = events.filter(sequence__lte=up_to)
    records = canonical_records(events, chunk_size=chunk_size)
    if on_progress is not None:
        records = _reporting(records, on_progress, every=chunk_size)
    # The records are this generator's own: popping the hash leaves exactly the hashed fields.
    return chain.verify_pairs(((record, record.pop("hash")) for record in records), after=after)


@dataclass(frozen=True)
class _Range:
    """Events `after[0]` < sequence <= `up_to`, the first linked to `after[1]` (the stored hash
    of event `after[0]`, which the previous range checks against that event's content)."""

    after: tuple[int, str]
    up_to: int


def _parallel_ranges(
    after: tuple[int, str], up_to: int | None, processes: int, min_range: int
) -> list[_Range]:
    """The chain after `after` up to `up_to` (the head by default) cut into at most `processes`
    contiguous ranges of at least `min_range` events; one range when that is not worth it, or
    when this process may not start others (a daemonic one, e.g. a Celery pool child)."""
    if up_to is None:
        head = chain_head()
        up_to = head[0] if head is not None else after[0]
    total = up_to - after[0]
    count = min(processes, total // max(min_range, 1))
    if count < 2 or multiprocessing.current_process().daemon:
        return [_Range(after, up_to)]
    cuts = [after[0] + total * index // count for index in range(1, count)]
    stored = dict(AuditEvent.objects.filter(sequence__in=cuts).values_list("sequence", "hash"))
    starts = [after] + [(cut, stored.get(cut, "")) for cut in cuts]
    ends = [*cuts, up_to]
    return [_Range(start, end) for start, end in zip(starts, ends, strict=True)]


def _verify_range(span: _Range, chunk_size: int) -> chain.ChainReport:
    report = verify_chain(after=span.after, up_to=span.up_to, chunk_size=chunk_size)
    expected = span.up_to - span.after[0]
    if report.valid and (report.events_checked != expected or not span.after[1]):
        # Events missing at the end of a range (or the cut event itself): the next range's
        # first link, or this count, shows the gap the one-process walk would have seen.
        missing = span.after[0] if not span.after[1] else span.after[0] + report.events_checked + 1
        broken = chain.ChainBreak(missing, chain.GAP, f"event #{missing} is missing")
        return dataclasses.replace(report, first_broken=broken)
    return report


def _verify_ranges(
    ranges: list[_Range], chunk_size: int, on_progress: Callable[[int], None] | None
) -> chain.ChainReport:
    """Each range in a process of its own (forked: Django is set up already; each reads on a
    connection it opens itself), joined: the first break in chain order, the total checked,
    the last range's head. A range starts from the stored hash of the event before it, and the
    previous range checks that hash against the event's content, so the joined result is the
    one-process walk's (the same first break; both stop trusting the chain there)."""
    connections.close_all()  # a forked child must not share the parent's sockets
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=len(ranges), mp_context=context) as pool:
        futures = [pool.submit(_verify_range, span, chunk_size) for span in ranges]
        reports = []
        for future in futures:
            reports.append(future.result())
            if on_progress is not None:
                on_progress(reports[-1].events_checked)
    broken = next((r.first_broken for r in reports if r.first_broken is not None), None)
    return chain.ChainReport(
        events_checked=sum(r.events_checked for r in reports),
        first_broken=broken,
        head_sequence=reports[-1].head_sequence,
        head_hash=reports[-1].head_hash,
    )


# `chain.ROW_FIELDS` then `hash`, as `chain.row_bytes` wants them: JSON as jsonb text, the
# timestamp in canonical form (`CanonicalTimestamp`). The sealer reads these.
_ROW_SQL = {
    "before": "before::text",
    "after": "after::text",
    "occurred_at": CanonicalTimestamp.template % {"expressions": "occurred_at"},
}
CHAIN_ROW_COLUMNS = ", ".join(_ROW_SQL.get(name, name) for name in chain.ROW_FIELDS)


def _chain_rows(connection, after: int, up_to: int | None, chunk_size: int) -> Iterator[tuple]:
    """Sealed events `after` < sequence <= `up_to` by sequence, as `chain.ROW_FIELDS` plus
    `hash` (see `chain.verify_rows`).

    Outside a transaction: read on a connection of its own, in a read-only REPEATABLE READ
    transaction: one snapshot, and a server-side cursor that streams (without the WITH HOLD an
    autocommit cursor needs, which makes PostgreSQL build the whole result before the first
    row), so the database builds rows while Python hashes the previous ones; the caller's
    connection stays free (progress it saves meanwhile is seen by others). Inside one: on the
    caller's connection, in its transaction (which may hold rows and locks of its own)."""
    sql = f"SELECT {CHAIN_ROW_COLUMNS}, hash FROM audit_auditevent WHERE sequence > %s"  # noqa: S608
    params: list[Any] = [after]
    if up_to is not None:
        sql += " AND sequence <= %s"
        params.append(up_to)
    if connection.in_atomic_block:  # the caller's transaction: its snapshot, its own rows
        with connection.cursor() as plain:
            cursor = plain.connection.cursor(name=f"audit_chain_rows_{id(plain)}")
            try:
                cursor.execute(sql + " ORDER BY sequence", params)
                while rows := cursor.fetchmany(chunk_size):
                    yield from rows
            finally:
                cursor.close()
        return
    reader = connections.create_connection(connection.alias)
    try:
        reader.ensure_connection()
        raw = reader.connection
        raw.autocommit = False
        raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        with raw.cursor(name="audit_chain_rows") as cursor:
            cursor.execute(sql + " ORDER BY sequence", params)
            while rows := cursor.fetchmany(chunk_size):
                yield from rows
        raw.rollback()
    finally:
        reader.close()


def _reference_hash(sequence: int) -> str | None:
    """The hash of event #sequence by the reference encoder (`core.canonical`), from the ORM:
    what a fast-path mismatch is confirmed with."""
    events = AuditEvent.objects.filter(sequence=sequence)
    for record in canonical_records(events, chunk_size=1):
        record.pop("hash")
        return chain.compute_hash(record)
    return None


def _reporting(records: Iterator[dict], on_progress: Callable[[int], None], *, every: int):
    count = 0
    for count, record in enumerate(records, start=1):
        yield record
        if count % every == 0:
            on_progress(every)
    if count % every:
        on_progress(count % every)


# The rules `verify_trail` reports, by name (what `audit_verify` prints).
CHAIN_BROKEN = "chain_broken"
SIGNATURE_INVALID = "checkpoint_signature_invalid"
CHECKPOINT_MISSING = "checkpoint_missing"
CHECKPOINT_ROW_REMOVED = "checkpoint_row_removed"
CHECKPOINT_FILE_MISMATCH = "checkpoint_file_mismatch"
CHECKPOINT_FILE_MISSING = "checkpoint_file_missing"
TRAIL_TRUNCATED = "trail_truncated"
HEAD_BEHIND_CHECKPOINT = "head_behind_checkpoint"
CHECKPOINTED_EVENT_MISSING = "checkpointed_event_missing"
CHECKPOINT_HEAD_MISMATCH = "checkpoint_head_mismatch"
EXPECTED_HEAD_MISMATCH = "expected_head_mismatch"
_LOOKUP_BATCH = 10_000


@dataclass(frozen=True)
class Problem:
    """One broken rule of the trail (`rule`, one of the names above) and what was found."""

    rule: str
    detail: str


@dataclass(frozen=True)
class TrailReport:
    """The chain's report plus every problem found against checkpoints and an expected head."""

    chain: chain.ChainReport
    checkpoints_checked: int
    problems: tuple[Problem, ...]

    @property
    def valid(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.chain.as_dict(),
            "valid": self.valid,
            "checkpoints_checked": self.checkpoints_checked,
            "problems": [{"rule": p.rule, "detail": p.detail} for p in self.problems],
        }


def checkpoint_records() -> list[dict[str, Any]]:
    """Every stored checkpoint as a record (`checkpoints.FILE_FIELDS`, canonical time)."""
    rows = AuditCheckpoint.objects.order_by("number").values(*checkpoints.FILE_FIELDS)
    return [{**row, "signed_at": chain.format_timestamp(row["signed_at"])} for row in rows]


def verify_trail(
    *,
    public_key_for: checkpoints.PublicKeyLookup,
    file_path: str = "",
    expect_head: tuple[int, str] | None = None,
    chunk_size: int = 5000,
    on_progress: Callable[[int], None] | None = None,
    processes: int = 1,
) -> TrailReport:
    """`verify_chain`, then the chain against every checkpoint of the table and of the file at
    `file_path` ('' = none): signatures, gaps, removed rows, removed or re-hashed events; and
    against `expect_head` (sequence, hash) kept elsewhere. Checkpoints are read before the chain,
    so events appended meanwhile never look missing. `public_key_for` may raise KeyUnavailable.
    `processes`: see `verify_chain`."""
    table = checkpoint_records()
    report = verify_chain(chunk_size=chunk_size, on_progress=on_progress, processes=processes)
    problems = [] if report.valid else [_chain_problem(report.first_broken)]
    from_file = _file_records(file_path, table, problems)
    problems += _numbering_problems(table)
    verified = []
    lookup = _cached(public_key_for)
    for record in [*table, *from_file]:
        problem = checkpoints.signature_problem(record, lookup)
        if problem:
            problems.append(Problem(SIGNATURE_INVALID, f"checkpoint {record['number']}: {problem}"))
        else:
            verified.append(record)
    claims = [(f"checkpoint {r['number']}", r["head_sequence"], r["head_hash"]) for r in verified]
    problems += _coverage_problems(report, claims)
    if expect_head is not None:
        found = _coverage_problems(report, [("the expected head", *expect_head)])
        problems += [Problem(EXPECTED_HEAD_MISMATCH, problem.detail) for problem in found]
    return TrailReport(report, len(table) + len(from_file), tuple(problems))


def _chain_problem(broken: chain.ChainBreak) -> Problem:
    return Problem(CHAIN_BROKEN, f"event #{broken.sequence}: {broken.reason} ({broken.detail})")


def _cached(public_key_for: checkpoints.PublicKeyLookup) -> checkpoints.PublicKeyLookup:
    """One HSM read per key version in a verification (an unusable key is asked about once)."""
    known: dict[str, Any] = {}

    def lookup(key_id: str):
        if key_id not in known:
            try:
                known[key_id] = public_key_for(key_id)
            except checkpoints.KeyUnavailable as exc:
                known[key_id] = exc
        if isinstance(known[key_id], checkpoints.KeyUnavailable):
            raise known[key_id]
        return known[key_id]

    return lookup


def _file_records(file_path: str, table: list[dict], problems: list[Problem]) -> list[dict]:
    """The file's checkpoints missing from the table (each reported); mismatches reported."""
    if not file_path:
        return []
    if not Path(file_path).exists():
        if table:
            detail = f"{file_path} does not exist, but the table holds {len(table)} checkpoints"
            problems.append(Problem(CHECKPOINT_FILE_MISSING, detail))
        return []
    by_number = {record["number"]: record for record in table}
    missing = []
    for record in checkpoints.read_file(file_path):
        stored = by_number.get(record["number"])
        if stored is None:
            detail = f"checkpoint {record['number']} of {file_path} is not in the table"
            problems.append(Problem(CHECKPOINT_ROW_REMOVED, detail))
            missing.append(record)
        elif stored != {name: record[name] for name in checkpoints.FILE_FIELDS}:
            detail = f"checkpoint {record['number']} differs between {file_path} and the table"
            problems.append(Problem(CHECKPOINT_FILE_MISMATCH, detail))
    return missing


def _numbering_problems(table: list[dict]) -> list[Problem]:
    problems, expected = [], 1
    for record in table:
        if record["number"] != expected:
            detail = f"checkpoints {expected}..{record['number'] - 1} are missing from the table"
            problems.append(Problem(CHECKPOINT_MISSING, detail))
        expected = record["number"] + 1
    return problems


def _coverage_problems(
    report: chain.ChainReport, claims: Iterable[tuple[str, int, str]]
) -> list[Problem]:
    """Each claim `(who, sequence, hash)` says event #sequence has that hash and exists."""
    claims = list(claims)
    head = report.head_sequence or 0
    problems = []
    furthest = max(claims, key=lambda claim: claim[1], default=None)
    if furthest is not None and furthest[1] > head:
        who, sequence = furthest[0], furthest[1]
        if head == 0:
            detail = f"the table holds no events, but {who} covers events 1..{sequence}"
            problems.append(Problem(TRAIL_TRUNCATED, detail))
        else:
            detail = (
                f"the chain ends at event #{head}, but {who} covers #{sequence}: "
                f"events #{head + 1}..#{sequence} were removed"
            )
            problems.append(Problem(HEAD_BEHIND_CHECKPOINT, detail))
    stored = _hashes_of([sequence for _, sequence, _ in claims if sequence <= head])
    for who, sequence, expected_hash in claims:
        if sequence > head:
            continue
        if sequence not in stored:
            detail = f"event #{sequence}, covered by {who}, is missing"
            problems.append(Problem(CHECKPOINTED_EVENT_MISSING, detail))
        elif stored[sequence] != expected_hash:
            detail = (
                f"event #{sequence} has hash {stored[sequence]}, but {who} says {expected_hash}: "
                f"events up to #{sequence} were changed"
            )
            problems.append(Problem(CHECKPOINT_HEAD_MISMATCH, detail))
    return problems


def _hashes_of(sequences: list[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for start in range(0, len(sequences), _LOOKUP_BATCH):
        batch = sequences[start : start + _LOOKUP_BATCH]
        found.update(AuditEvent.objects.filter(sequence__in=batch).values_list("sequence", "hash"))
    return found
