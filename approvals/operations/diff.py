"""Current → requested, per field: what a request would change on an existing key.

An operation that changes a key declares `current(params)` (the key's values from the
inventory, JSON-safe, captured on the request at submission) and `changes(current, params)`
(the rows below); the preview, the request page and the API all show these rows, and the
request page compares the captured values with the inventory now (`changed_since`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from keys.schedules import Window

NOT_SET = "—"


@dataclass(frozen=True)
class Change:
    """One field: its value now, the value asked for, and whether they differ."""

    field: str
    label: str
    current: Any
    requested: Any

    @property
    def is_changed(self) -> bool:
        return self.current != self.requested

    @property
    def current_text(self) -> str:
        return shown(self.current)

    @property
    def requested_text(self) -> str:
        return shown(self.requested)

    def as_dict(self) -> dict:
        return {**asdict(self), "changed": self.is_changed}


def rows(labels: dict[str, str], current: dict, requested: dict) -> list[Change]:
    """One row per field of `labels`, in its order; a field not requested keeps its value."""
    return [
        Change(field, label, current.get(field), requested.get(field, current.get(field)))
        for field, label in labels.items()
    ]


def changed_since(captured: dict | None, now: dict | None) -> list[str]:
    """The fields whose inventory value differs from the one captured at submission, in the
    operation's order (a key that left the inventory counts as every field changed)."""
    if captured is None:
        return []
    fields = list(now) if now else list(captured)
    return [field for field in fields if (now or {}).get(field) != captured.get(field)]


def iso(value: datetime | None) -> str | None:
    """A time as the request params spell it (UTC, whole seconds)."""
    return value.replace(microsecond=0).isoformat() if value else None


def shown(value: Any) -> str:
    """A value as a person reads it: yes/no, lists by commas, `name=value` pairs by name
    (stored JSON keeps no order), lifetime actions in words."""
    if value is None or value in ("", [], {}):
        return NOT_SET
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(shown(item) for item in value)
    if isinstance(value, dict) and "weekdays" in value:  # a schedule's maintenance window
        return Window(value["weekdays"], value["start_hour_utc"], value["hours"]).describe()
    if isinstance(value, dict) and "action" in value:
        trigger = " ".join(
            f"{value[key]} {words}"
            for key, words in (
                ("time_after_create", "after creation"),
                ("time_before_expiry", "before expiry"),
            )
            if value.get(key)
        )
        return f"{value['action']} {trigger}".strip()
    if isinstance(value, dict):
        return ", ".join(f"{name}={text}" for name, text in sorted(value.items()))
    return str(value)
