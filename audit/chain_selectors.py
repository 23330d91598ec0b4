"""Canonical records of the sealed chain and its verification, in parallel ranges when long."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.models import Func, QuerySet, TextField
from django.db.models.functions import Cast

from audit import chain
from audit.models import AuditEvent
from audit.selectors import chain_head

# A range of the chain smaller than this is not worth a verifying process of its own.
PARALLEL_MIN_EVENTS = 50_000


class CanonicalTimestamp(Func):
    """PostgreSQL renders a timestamptz exactly as `chain.format_timestamp` does: it is faster
    than parsing a datetime in Python only to format it again."""

    template = (
        """to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
    )
    output_field = TextField()


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
