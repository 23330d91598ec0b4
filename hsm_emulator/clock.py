"""The emulator's one clock: real time plus a forward-only offset, kept in the data dir.

Every timestamp the emulator issues (key and policy ``created``/``updated``, ``exp`` from a
rotation policy, deletion and purge dates, job times, backup folder names, release tokens) and
the automatic-rotation tick read ``Clock.now()``, so tests, the demo seed and benchmarks can age
keys by years without sleeping. Bearer tokens are still checked against real time: the clients
mint them with the real clock. The offset only moves forward and survives a restart
(``DIR/clock.json``). A new data dir may start behind real time (``start_behind``): nothing is
stamped yet, so the demo seed can create keys years ago and move the clock forward from there.
"""

from __future__ import annotations

import datetime
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import isodate

from hsm_emulator.storage_files import write_atomic

CLOCK_FILE = "clock.json"
STORE_FILE = "hsm.sqlite3"  # its presence: the data dir has issued timestamps already
_REFERENCE = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)


def parse_span(text: str) -> datetime.timedelta:
    """An ISO-8601 duration as a timedelta (years and months measured from 2000-01-01, so P1Y is
    366 days); ValueError when it is not one."""
    try:
        duration = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError, TypeError) as exc:
        raise ValueError(f"not an ISO-8601 duration: {text!r}") from exc
    return (_REFERENCE + duration) - _REFERENCE


def parse_offset(value: Any) -> int:
    """Whole seconds from an ISO-8601 duration (``P3Y``, ``P90D``, ``PT1H``) or a number of
    seconds (``86400``, ``"86400"``); ValueError for anything negative or unreadable."""
    if isinstance(value, bool):
        raise ValueError("an offset is an ISO-8601 duration or a number of seconds")
    if isinstance(value, (int, float)):
        seconds = value
    elif isinstance(value, str) and value.strip().lstrip("+").replace(".", "", 1).isdigit():
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        seconds = parse_span(value.strip()).total_seconds()
    else:
        raise ValueError("an offset is an ISO-8601 duration or a number of seconds")
    if seconds < 0:
        raise ValueError(f"the clock only moves forward; {value!r} is negative")
    return int(seconds)


class ClockBackwards(ValueError):
    """A requested offset behind the current one."""


class Clock:
    """Real time plus ``offset_seconds``; thread-safe; persisted when it has a ``path``."""

    def __init__(
        self,
        path: Path | None = None,
        offset_seconds: int = 0,
        real: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self._offset = offset_seconds
        self._real = real
        self._lock = threading.Lock()

    @classmethod
    def open(cls, data_dir: Path, *, at_least: int = 0, start_behind: int = 0) -> Clock:
        """The data dir's clock: its stored offset, raised to ``at_least`` (a start flag). A new
        data dir (no clock, no store) starts ``start_behind`` seconds behind real time instead
        of at it; an existing one ignores ``start_behind`` (its clock never moves back)."""
        path = data_dir / CLOCK_FILE
        stored = 0
        if path.exists():
            stored = int(json.loads(path.read_text())["offset_seconds"])
        elif start_behind > 0 and not (data_dir / STORE_FILE).exists():
            stored = -start_behind
            write_atomic(path, json.dumps({"offset_seconds": stored}).encode())
        clock = cls(path, stored)
        if at_least > stored and at_least > 0:  # 0 is no flag: a clock started behind stays
            clock.move_to(at_least)
        return clock

    @property
    def offset_seconds(self) -> int:
        """How far ahead of real time the emulator runs."""
        return self._offset

    def now(self) -> int:
        """The emulator's time in integer Unix seconds, the service's timestamp unit."""
        return int(self._real()) + self._offset

    def now_datetime(self) -> datetime.datetime:
        """The emulator's time as an aware UTC datetime (microseconds kept)."""
        moment = self._real() + self._offset
        return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc)

    def move_to(self, offset_seconds: int) -> int:
        """Set the offset; ClockBackwards when it is behind the current one. Returns it."""
        with self._lock:
            return self._set(offset_seconds)

    def advance(self, seconds: int) -> int:
        """Move forward by ``seconds`` (≥ 0); returns the new offset."""
        if seconds < 0:
            raise ClockBackwards("The emulator clock only moves forward.")
        with self._lock:
            return self._set(self._offset + seconds)

    def _set(self, offset_seconds: int) -> int:
        if offset_seconds < self._offset:
            raise ClockBackwards(
                f"The emulator clock only moves forward: offset {offset_seconds} s is behind "
                f"the current offset {self._offset} s."
            )
        if self._path is not None:
            write_atomic(self._path, json.dumps({"offset_seconds": offset_seconds}).encode())
        self._offset = offset_seconds
        return offset_seconds

    def document(self) -> dict[str, Any]:
        """What ``GET /_emulator/clock`` answers."""
        now = self.now()
        return {
            "offset_seconds": self._offset,
            "now": now,
            "now_iso": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat(),
            "real_now": int(self._real()),
        }
