"""Portal rotation schedules in the inventory (ROTATION.md §3): stored when an approved
`key.set_rotation_schedule` request executes, ended by `key.remove_rotation_schedule`, and the
version a schedule run retires. Each runs inside the execution's record transaction."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from keys.gateway import KeyInfo
from keys.models import ManagedKey, RotationSchedule
from keys.schedules import Window, first_run
from keys.services.compliance import refresh_compliance
from keys.services.inventory import in_caller_transaction
from keys.services.mirror import upsert_versions


@in_caller_transaction
def record_schedule_set(
    *, name: str, params: dict, approved_by: UUID, payload_hash: str, now: datetime
) -> RotationSchedule:
    """Create or replace the key's schedule from the request's params; its first run is a
    cadence after the current version was made, in the window."""
    key = ManagedKey.objects.select_for_update().get(name=name)
    window = params.get("window") or {}
    fields = {
        "cadence": params["cadence"],
        "mode": params["mode"],
        "window_weekdays": window.get("weekdays", []),
        "window_start_hour": window.get("start_hour_utc", 0),
        "window_hours": window.get("hours", 24),
        "retire_previous_after": params.get("retire_previous_after") or "",
        "approved_by": approved_by,
        "approved_payload_hash": payload_hash,
        "created_at": now,
    }
    fields["next_run_on"] = first_run(
        cadence=fields["cadence"],
        window=Window(
            fields["window_weekdays"], fields["window_start_hour"], fields["window_hours"]
        ),
        version_created=key.current_version_created_on,
        now=now,
    )
    schedule, _ = RotationSchedule.objects.update_or_create(
        key=key, defaults={**fields, "last_run_on": None, "last_run_request": None}
    )
    refresh_compliance(now=now, keys=[key])
    return schedule


@in_caller_transaction
def record_schedule_removed(*, name: str, now: datetime) -> int:
    key = ManagedKey.objects.select_for_update().get(name=name)
    removed, _ = RotationSchedule.objects.filter(key=key).delete()
    refresh_compliance(now=now, keys=[key])
    return removed


@in_caller_transaction
def record_version_disabled(*, key: KeyInfo, now: datetime) -> None:
    """Mirror an old version Keywarden disabled (its current version is unchanged)."""
    row = ManagedKey.objects.get(name=key.name)
    upsert_versions([(row, key)])
