"""The key-level compliance table as CSV, written so no cell runs as a spreadsheet formula
(core.spreadsheet, as every CSV export)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from core.spreadsheet import csv_writer, neutralised
from reports.selectors import ReportScope

KEY_TABLE_COLUMNS = (
    ("name", "key"),
    ("team__slug", "team"),
    ("rotation_class", "class"),
    ("compliance_state", "compliance"),
    ("compliance_due_on", "due_on"),
    ("compliance_mechanism", "mechanism"),
    ("compliance_reason", "reason"),
    ("current_version_created_on", "current_version_created_on"),
    ("expires_on", "expires_on"),
    ("last_applied", "managed"),
    ("has_drift", "drift"),
)
HEADER = [*(label for _field, label in KEY_TABLE_COLUMNS), "version_age_days"]


def cell_text(value) -> str:
    """The cell as text (the writer keeps it from starting a formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat()
    return neutralised(str(value))


def key_table_rows(scope: ReportScope) -> Iterator[list[str]]:
    """The header, then one row per key in scope (team, then name), streamed in chunks."""
    yield HEADER
    fields = [field for field, _label in KEY_TABLE_COLUMNS]
    # `last_applied` is JSON: read only whether it is set (managed by Keywarden).
    rows = (
        scope.keys().order_by("team__slug", "name").values_list(*fields).iterator(chunk_size=2000)
    )
    for row in rows:
        values = dict(zip(fields, row, strict=True))
        values["last_applied"] = values["last_applied"] is not None
        created = values["current_version_created_on"]
        age = (scope.now - created).days if created else None
        yield [cell_text(values[field]) for field in fields] + [cell_text(age)]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list[str]]) -> Iterator[str]:
    """Rows as CSV text lines (for a streaming response)."""
    writer = csv_writer(_Echo())
    return (writer.writerow(row) for row in rows)
