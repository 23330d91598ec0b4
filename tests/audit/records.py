"""Records of stored events rebuilt through the ORM, independently of `audit.selectors`."""

from __future__ import annotations

from audit import chain
from audit.models import AuditEvent


def stored_records() -> list[dict]:
    """Every stored event as a canonical record (`chain.RECORD_FIELDS`), by sequence."""
    rows = AuditEvent.objects.order_by("sequence").values(*chain.RECORD_FIELDS)
    return [{**row, "occurred_at": chain.format_timestamp(row["occurred_at"])} for row in rows]


def hashed_fields(event: AuditEvent) -> dict:
    """The `chain.HASHED_FIELDS` of a stored event, as they were hashed."""
    (record,) = [record for record in stored_records() if record["sequence"] == event.sequence]
    return {name: record[name] for name in chain.HASHED_FIELDS}
