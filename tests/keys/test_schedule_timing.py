"""When a portal rotation schedule runs (keys.schedules): windows, first run, next run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keys.schedules import Window, first_run, run_after

# 2027-03-01 is a Monday.
MON = datetime(2027, 3, 1, tzinfo=UTC)
SAT_NIGHT = Window(weekdays=[5], start_hour=22, hours=4)  # Saturday 22:00 to Sunday 02:00
WEEKDAY_MORNINGS = Window(weekdays=[0, 1, 2, 3, 4], start_hour=6, hours=2)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return MON.replace(day=day, hour=hour, minute=minute)


@pytest.mark.parametrize(
    ("window", "moment", "open_"),
    [
        (Window(), at(3, 13), True),  # no weekdays: always open
        (SAT_NIGHT, at(6, 21, 59), False),
        (SAT_NIGHT, at(6, 22), True),
        (SAT_NIGHT, at(7, 1, 59), True),  # past midnight, into Sunday
        (SAT_NIGHT, at(7, 2), False),  # the end is not in the window
        (SAT_NIGHT, at(7, 22, 30), False),  # Sunday night is not Saturday night
        (WEEKDAY_MORNINGS, at(5, 7, 59), True),  # Friday
        (WEEKDAY_MORNINGS, at(6, 7), False),  # Saturday
    ],
)
def test_window_contains(window, moment, open_):
    assert window.contains(moment) is open_


@pytest.mark.parametrize(
    ("window", "moment", "expected"),
    [
        (Window(), at(3, 13, 7), at(3, 13, 7)),
        (SAT_NIGHT, at(1, 9), at(6, 22)),  # Monday: wait for Saturday night
        (SAT_NIGHT, at(6, 23), at(6, 23)),  # already open
        (SAT_NIGHT, at(7, 3), at(13, 22)),  # just closed: next Saturday
        (WEEKDAY_MORNINGS, at(5, 9), at(8, 6)),  # Friday after the window: Monday
        (WEEKDAY_MORNINGS, at(1, 5), at(1, 6)),
    ],
)
def test_window_first_moment_from(window, moment, expected):
    assert window.first_moment_from(moment) == expected


def test_first_run_is_a_cadence_after_the_version_was_made_in_the_window():
    made = at(1, 10)  # Monday
    assert first_run(cadence="P5D", window=SAT_NIGHT, version_created=made, now=at(1, 11)) == (
        at(6, 22)
    )
    assert first_run(cadence="P5D", window=Window(), version_created=made, now=at(1, 11)) == (
        at(6, 10)
    )


def test_first_run_of_a_key_older_than_its_cadence_is_now_or_the_next_window():
    old = datetime(2025, 1, 1, tzinfo=UTC)
    assert first_run(cadence="P30D", window=Window(), version_created=old, now=at(3, 12)) == (
        at(3, 12)
    )
    assert first_run(cadence="P30D", window=SAT_NIGHT, version_created=old, now=at(3, 12)) == (
        at(6, 22)
    )


def test_next_run_counts_from_the_due_time_not_from_when_the_job_ran():
    # due Saturday 22:00, the job ran at 22:01: the next is a week on, same time
    assert run_after(due=at(6, 22), cadence="P7D", window=SAT_NIGHT, now=at(6, 22, 1)) == (
        at(13, 22)
    )


def test_next_run_after_a_long_outage_counts_from_now():
    # the job was down for three weeks: one run now, the next a cadence from now
    due = at(1, 6)
    now = datetime(2027, 3, 22, 6, 30, tzinfo=UTC)
    assert run_after(due=due, cadence="P7D", window=WEEKDAY_MORNINGS, now=now) == (
        datetime(2027, 3, 29, 6, 30, tzinfo=UTC)
    )


def test_calendar_cadence_keeps_calendar_months():
    due = datetime(2027, 1, 31, 12, tzinfo=UTC)
    assert run_after(due=due, cadence="P1M", window=Window(), now=due) == (
        datetime(2027, 2, 28, 12, tzinfo=UTC)
    )


def test_describe():
    assert SAT_NIGHT.describe() == "Sat from 22:00 UTC for 4 h"
    assert Window().describe() == "any time"
