"""ISO-8601 durations as people write them (`P90D`, `P3M`, `P2Y`): the one pattern the params
serializers and the rotation standards accept, and a day count for comparing them."""

from __future__ import annotations

from datetime import timedelta

import isodate

DURATION_PATTERN = r"\AP(?!\Z)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?\Z"
DURATION_MESSAGE = "Must be an ISO-8601 duration such as P90D, P3M or P1Y."


def approximate(duration: str) -> timedelta:
    """A duration as a timedelta, counting a month as 30 days and a year as 365."""
    parsed = isodate.parse_duration(duration)
    if isinstance(parsed, isodate.Duration):
        return parsed.tdelta + timedelta(days=int(parsed.years) * 365 + int(parsed.months) * 30)
    return parsed
