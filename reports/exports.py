"""The key-level compliance table as CSV, written so no cell runs as a spreadsheet formula."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime

from reports.selectors import ReportScope

# A cell a spreadsheet could read as a formula (OWASP CSV injection): these first characters.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
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


def safe_cell(value) -> str:
    """The cell as text, a leading quote added when a spreadsheet would read it as a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return f"'{text}" if text.startswith(FORMULA_PREFIXES) else text


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
        yield [safe_cell(values[field]) for field in fields] + [safe_cell(age)]


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list[str]]) -> Iterator[str]:
    """Rows as CSV text lines (for a streaming response)."""
    writer = csv.writer(_Echo())
    return (writer.writerow(row) for row in rows)
