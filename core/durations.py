"""ISO-8601 durations as people write them (`P90D`, `P3M`, `P2Y`): the one pattern the params
serializers and the rotation standards accept, the longest allowed, and a day count for
comparing them."""

from __future__ import annotations

from datetime import timedelta

import isodate

# [0-9], not \d: \d also matches other scripts' digits, which no HSM reads as a number.
DURATION_PATTERN = (
    r"\AP(?!\Z)([0-9]+Y)?([0-9]+M)?([0-9]+W)?([0-9]+D)?"
    r"(T(?=[0-9])([0-9]+H)?([0-9]+M)?([0-9]+S)?)?\Z"
)
DURATION_MESSAGE = "Must be an ISO-8601 duration such as P90D, P3M or P1Y."
MAX_DURATION_DAYS = 100 * 365
TOO_LONG_MESSAGE = "Must be at most 100 years."


def approximate(duration: str) -> timedelta:
    """A duration as a timedelta, counting a month as 30 days and a year as 365."""
    parsed = isodate.parse_duration(duration)
    if isinstance(parsed, isodate.Duration):
        return parsed.tdelta + timedelta(days=int(parsed.years) * 365 + int(parsed.months) * 30)
    return parsed


def approximate_days(duration: str) -> int:
    """`approximate(duration).days`, or MAX_DURATION_DAYS + 1 for a duration too large for a
    timedelta."""
    try:
        return approximate(duration).days
    except (OverflowError, ValueError, isodate.ISO8601Error):
        return MAX_DURATION_DAYS + 1
