"""Streaming CSV and JSON Lines writers for audit events (API downloads and `audit_export`).

Both stream from a server-side cursor and yield text in batches, so memory stays constant
whatever the size of the table. A JSON Lines line is an event's canonical record plus its
hash (`audit.chain`): an exported file re-verifies offline with `chain.verify_records`.

CSV is for spreadsheets, which run a cell that starts with a formula character: usernames and
user agents are the client's own words, so such a cell is written with a leading `'`
(defusedcsv; tab and CR too). JSON Lines stays exact; it is what the verifier reads.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, timezone

from django.db.models import QuerySet

from audit import chain
from audit.chain_selectors import canonical_records
from audit.models import AuditEvent
from core.canonical import canonical_json
from core.spreadsheet import csv_writer, neutralised

EXPORT_CHUNK_SIZE = 2000
LINES_PER_WRITE = 500
CSV_COLUMNS = chain.RECORD_FIELDS
FORMATS = {"csv": "text/csv", "jsonl": "application/jsonl"}


def export_filename(extension: str, *, now: datetime) -> str:
    """`keywarden-audit-20260131T091502Z.<extension>`."""
    return f"keywarden-audit-{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}.{extension}"


def jsonl_lines(queryset: QuerySet[AuditEvent]) -> Iterator[str]:
    """One JSON object per event (keys sorted, compact, UTF-8 text), in sequence order."""
    batch: list[str] = []
    for record in canonical_records(queryset, chunk_size=EXPORT_CHUNK_SIZE):
        batch.append(canonical_json(record) + "\n")
        if len(batch) >= LINES_PER_WRITE:
            yield "".join(batch)
            batch.clear()
    if batch:
        yield "".join(batch)


def csv_lines(queryset: QuerySet[AuditEvent]) -> Iterator[str]:
    """A header row, then one row per event in sequence order; `before`/`after` as canonical
    JSON text, empty cells for null."""
    buffer = io.StringIO()
    writer = csv_writer(buffer)
    writer.writerow(CSV_COLUMNS)
    rows_in_buffer = 0
    for record in canonical_records(queryset, chunk_size=EXPORT_CHUNK_SIZE):
        writer.writerow(_csv_cells(record))
        rows_in_buffer += 1
        if rows_in_buffer >= LINES_PER_WRITE:
            yield _drain(buffer)
            rows_in_buffer = 0
    yield _drain(buffer)


def write_lines(queryset: QuerySet[AuditEvent], fmt: str) -> Iterator[str]:
    """The text of an export in `fmt` (`csv` or `jsonl`). Raises ValueError for other formats."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {sorted(FORMATS)}")
    return csv_lines(queryset) if fmt == "csv" else jsonl_lines(queryset)


def _csv_cells(record: dict) -> list:
    for name in ("before", "after"):
        value = record[name]
        record[name] = "" if value is None else canonical_json(value)
    return [neutralised("" if record[name] is None else record[name]) for name in CSV_COLUMNS]


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
