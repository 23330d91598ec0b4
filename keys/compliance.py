"""Pure functions: is a key rotated on time? (ROTATION.md §2). No I/O: the caller passes the
key row, its class's standard, its portal schedule (or None) and `now`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import isodate

from keys.models import ComplianceState, KeyState, ManagedKey, RotationMechanism, RotationStandard

State, Mechanism = ComplianceState, RotationMechanism


class Schedule(Protocol):
    """A portal rotation schedule (ROTATION.md §3): when it runs next."""

    next_run_on: datetime | None


@dataclass(frozen=True)
class Compliance:
    state: str
    due_on: datetime | None
    mechanism: str
    reason: str


def parse_duration(text: str) -> timedelta | isodate.Duration:
    """An ISO-8601 duration; years and months stay calendar units (P2Y from 29 Feb is 28 Feb)."""
    return isodate.parse_duration(text)


def in_words(text: str) -> str:
    """`P90D` → "90 days", `P1Y6M` → "1 year 6 months"."""
    parsed = parse_duration(text)
    calendar = isinstance(parsed, isodate.Duration)
    delta = parsed.tdelta if calendar else parsed
    parts = (
        (int(parsed.years) if calendar else 0, "year"),
        (int(parsed.months) if calendar else 0, "month"),
        (delta.days, "day"),
        (delta.seconds // 3600, "hour"),
    )
    words = [f"{count} {unit}{'' if count == 1 else 's'}" for count, unit in parts if count]
    return " ".join(words) or "0 days"


def hsm_next_rotation(
    policy: dict | None, *, version_created: datetime | None, expires_on: datetime | None
) -> datetime | None:
    """When the HSM's rotation policy will rotate the current version: its Rotate action's
    `time_after_create` from the version's creation, or `time_before_expiry` before expiry."""
    for action in (policy or {}).get("lifetime_actions") or []:
        if str(action.get("action", "")).lower() != "rotate":
            continue
        if action.get("time_after_create") and version_created:
            return version_created + parse_duration(action["time_after_create"])
        if action.get("time_before_expiry") and expires_on:
            return expires_on - parse_duration(action["time_before_expiry"])
    return None


def _day(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d}" if moment else "—"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _not_applicable(key: ManagedKey) -> str | None:
    """Why the key is not judged: deleted, purged, or disabled on purpose (Keywarden disabled
    it, or nobody says it should be enabled); a key disabled behind Keywarden's back is drift."""
    if key.state != KeyState.ACTIVE:
        return f"The key is {key.state}."
    if not key.enabled and not (key.last_applied or {}).get("enabled", False):
        return "The key is disabled."
    return None


def _next_rotation(key: ManagedKey, schedule: Schedule | None) -> tuple[datetime | None, str]:
    """The earliest rotation something will make, and what makes it."""
    planned = [
        (when, mechanism)
        for when, mechanism in (
            (
                hsm_next_rotation(
                    key.rotation_policy,
                    version_created=key.current_version_created_on,
                    expires_on=key.expires_on,
                ),
                Mechanism.HSM_POLICY,
            ),
            (schedule.next_run_on if schedule else None, Mechanism.SCHEDULE),
        )
        if when is not None
    ]
    return min(planned, default=(None, Mechanism.NONE), key=lambda pair: pair[0])


def compliance_of(
    key: ManagedKey, standard: RotationStandard, schedule: Schedule | None, now: datetime
) -> Compliance:
    """The key's state (ROTATION.md §2, first match wins), when its current version is due,
    what rotates it next, and why, in words."""
    gone = _not_applicable(key)
    if gone:
        return Compliance(State.NOT_APPLICABLE, None, Mechanism.NONE, gone)
    created = key.current_version_created_on
    age_due = created + parse_duration(standard.max_age) if created else None
    rotation_on, mechanism = _next_rotation(key, schedule)
    due_on = min((when for when in (rotation_on, age_due) if when), default=None)
    limit = f"the {standard.key_class} class allows {in_words(standard.max_age)}"
    age = f"Current version is {(now - created).days} days old; {limit}." if created else ""
    by = "the HSM policy" if mechanism == Mechanism.HSM_POLICY else "the schedule"
    warn_until = now + parse_duration(standard.warn_before)
    expires = key.expires_on
    if expires and expires <= now:
        return Compliance(State.EXPIRED, due_on, mechanism, f"Expired on {_day(expires)}.")
    if due_on and due_on <= now:
        late = age if due_on == age_due else f"{by} was to rotate it on {_day(due_on)}."
        return Compliance(State.OVERDUE, due_on, mechanism, _sentence(late))
    if expires and expires <= warn_until and (due_on is None or expires < due_on):
        return Compliance(
            State.EXPIRING_SOON,
            due_on,
            mechanism,
            f"Expires on {_day(expires)}, before its rotation is due ({_day(due_on)}).",
        )
    if due_on and due_on <= warn_until:
        return Compliance(
            State.DUE_SOON, due_on, mechanism, f"Due on {_day(due_on)}. {age}".strip()
        )
    if mechanism == Mechanism.NONE:
        return Compliance(
            State.NO_ROTATION,
            due_on,
            mechanism,
            f"Nothing rotates it (no HSM Rotate action, no schedule); due on {_day(due_on)}. "
            f"{age}".strip(),
        )
    return Compliance(
        State.COMPLIANT, due_on, mechanism, _sentence(f"{by} rotates it on {_day(rotation_on)}.")
    )
