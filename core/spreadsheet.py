"""CSV for spreadsheets, which run a cell that starts like a formula: every CSV export writes
through here. defusedcsv's writer quotes cells starting with = + - @ | % (leaving plain
numbers alone); a tab or carriage return at the start gets the same leading `'` here."""

from __future__ import annotations

from typing import Any

from defusedcsv import csv

CONTROL_PREFIXES = ("\t", "\r")


def csv_writer(file: Any):
    return csv.writer(file)


def neutralised(cell: Any) -> Any:
    """`cell`, with a leading `'` when it is text starting with a tab or carriage return."""
    if isinstance(cell, str) and cell.startswith(CONTROL_PREFIXES):
        return "'" + cell
    return cell
