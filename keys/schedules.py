"""Pure functions: when a portal rotation schedule runs (ROTATION.md §3). No I/O; `now` and
the schedule's fields come from the caller."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from keys.compliance import parse_duration

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Window:
    """Opens on `weekdays` (0 = Monday) at `start_hour` UTC and stays open `hours`; it may run
    past midnight (the weekday is the one it opens on). No weekdays: always open."""

    weekdays: Collection[int] = ()
    start_hour: int = 0
    hours: int = 24

    def _openings(self, moment: datetime, days: range):
        midnight = datetime.combine(moment.date(), time(self.start_hour), tzinfo=moment.tzinfo)
        for offset in days:
            opening = midnight + timedelta(days=offset)
            if opening.weekday() in self.weekdays:
                yield opening

    def contains(self, moment: datetime) -> bool:
        if not self.weekdays:
            return True
        span = timedelta(hours=self.hours)
        return any(o <= moment < o + span for o in self._openings(moment, range(-1, 1)))

    def first_moment_from(self, moment: datetime) -> datetime:
        """`moment` when the window is open then, else when it next opens."""
        if self.contains(moment):
            return moment
        return next(o for o in self._openings(moment, range(0, 8)) if o > moment)

    def describe(self) -> str:
        if not self.weekdays:
            return "any time"
        days = ", ".join(WEEKDAYS[day] for day in sorted(self.weekdays))
        return f"{days} from {self.start_hour:02d}:00 UTC for {self.hours} h"


def window_of(schedule) -> Window:
    return Window(schedule.window_weekdays, schedule.window_start_hour, schedule.window_hours)


def first_run(*, cadence: str, window: Window, version_created: datetime | None, now: datetime):
    """A new schedule's first run: a cadence after the current version was made (at once
    when the version is already older), moved into the window."""
    base = version_created + parse_duration(cadence) if version_created else now
    return window.first_moment_from(max(base, now))


def run_after(*, due: datetime, cadence: str, window: Window, now: datetime) -> datetime:
    """The run after the one due at `due` that happens `now`: a cadence on, in the window.
    A run made late (the job was down for longer than a cadence) counts from now, so missed
    runs are not made up one a minute."""
    following = due + parse_duration(cadence)
    if following <= now:
        following = now + parse_duration(cadence)
    return window.first_moment_from(following)
