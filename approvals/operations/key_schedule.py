"""Portal rotation schedules (ROTATION.md §3): set or remove a key's schedule, and disable an
old version (what a schedule's `retire_previous_after` runs). Setting or removing a schedule
makes no HSM call: the approved request is the schedule; its runs are key.rotate requests."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import serializers

from accounts.models import Team
from approvals.models import Operation
from approvals.operations.base import (
    KeyNameParams,
    OperationSpec,
    Outcome,
    Problems,
    live_key,
    request_ids,
    team_may_use,
)
from approvals.operations.bulk import (
    BulkTargets,
    OneKeyOrTargets,
    TargetsField,
    live_keys_of_team,
)
from approvals.operations.diff import Change, rows
from approvals.operations.fields import (
    DurationField,
    KeyNameField,
    PatternField,
    StrictChoiceField,
    StrictSerializer,
)
from approvals.operations.plan import HsmCall
from keys.compliance import in_words, parse_duration
from keys.models import KeyVersion, RotationSchedule, ScheduleMode
from keys.schedules import WEEKDAYS, Window
from keys.services.compliance import StandardBook
from keys.services.schedules import (
    record_schedule_removed,
    record_schedule_set,
    record_version_disabled,
)

MIN_CADENCE_DAYS = 1
SCHEDULE_LABELS = {
    "cadence": "Rotate every",
    "mode": "Approval of each run",
    "window": "Maintenance window",
    "retire_previous_after": "Disable the previous version after",
}


class WindowSerializer(StrictSerializer):
    """When runs may happen: weekdays (0 = Monday), from an hour (UTC), for some hours."""

    weekdays = serializers.ListField(
        child=StrictChoiceField(tuple(range(7))),
        min_length=1,
        max_length=7,
        label="Window weekdays",
        help_text=f"0 = {WEEKDAYS[0]} … 6 = {WEEKDAYS[6]}.",
    )
    start_hour_utc = StrictChoiceField(tuple(range(24)), label="Window opens (hour, UTC)")
    hours = StrictChoiceField(tuple(range(1, 25)), label="Window length (hours)")

    def validate(self, attrs):
        if len(set(attrs["weekdays"])) != len(attrs["weekdays"]):
            raise serializers.ValidationError({"weekdays": "Weekdays must not repeat."})
        return {**attrs, "weekdays": sorted(attrs["weekdays"])}


class KeySetRotationScheduleParams(OneKeyOrTargets, StrictSerializer):
    """A live key of the team, how often Keywarden rotates it, when, and who approves runs."""

    name = KeyNameField(required=False)
    targets = TargetsField(required=False)
    cadence = DurationField(
        minimum_days=MIN_CADENCE_DAYS,
        label="Rotate every",
        help_text="ISO-8601 duration, e.g. P90D; at most what the key's rotation class allows.",
    )
    mode = StrictChoiceField(
        tuple(ScheduleMode.values),
        label="Approval of each run",
        help_text="standing: this approval covers every run; each_time: custodians approve "
        "every run.",
    )
    window = WindowSerializer(required=False, label="Maintenance window")
    retire_previous_after = DurationField(
        minimum_days=0,
        required=False,
        label="Disable the previous version after",
        help_text="Optional ISO-8601 duration, at most the cadence.",
    )


class KeySetRotationSchedule(BulkTargets, OperationSpec):
    operation = Operation.KEY_SET_ROTATION_SCHEDULE
    params = KeySetRotationScheduleParams

    def validate(self, params: dict, *, team: Team) -> dict:
        problems = Problems()
        keys = live_keys_of_team(problems, team, params)
        cadence, retire = params.get("cadence"), params.get("retire_previous_after")
        now = timezone.now()
        book = StandardBook.load()
        standards = {(s.key_class, s.team_id): s for s in map(book.standard_for, keys)}
        for standard in standards.values() if cadence else ():
            if now + parse_duration(cadence) > now + parse_duration(standard.max_age):
                problems.add(
                    "cadence",
                    f"Longer than the {standard.key_class} class allows "
                    f"({in_words(standard.max_age)}).",
                )
        if cadence and retire and now + parse_duration(retire) > now + parse_duration(cadence):
            problems.add(
                "retire_previous_after",
                "Longer than the cadence: the next run would come before the previous "
                "version is disabled.",
            )
        problems.raise_if_any()
        return params

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        return []  # the schedule's runs are key.rotate requests of their own

    def preview_one(self, params: dict, *, request_id=None) -> str:
        window = params.get("window")
        when = (
            Window(window["weekdays"], window["start_hour_utc"], window["hours"]).describe()
            if window
            else "any time"
        )
        approval = (
            "with this approval standing for every run"
            if params["mode"] == ScheduleMode.STANDING
            else "each run approved by custodians"
        )
        retire = params.get("retire_previous_after")
        then = f"; disable the previous version {retire} after each run" if retire else ""
        return (
            f"No HSM call now. Keywarden will rotate_key({params['name']!r}) every "
            f"{params['cadence']} ({when}), {approval}{then}."
        )

    def current(self, params: dict) -> dict | None:
        if "targets" in params:
            return None  # a bulk request: each key's schedule is replaced as a whole
        schedule = RotationSchedule.objects.filter(key__name=params["name"]).first()
        if schedule is None:
            return dict.fromkeys(SCHEDULE_LABELS)
        window = {
            "weekdays": schedule.window_weekdays,
            "start_hour_utc": schedule.window_start_hour,
            "hours": schedule.window_hours,
        }
        return {
            "cadence": schedule.cadence,
            "mode": schedule.mode,
            "window": window if schedule.window_weekdays else None,
            "retire_previous_after": schedule.retire_previous_after or None,
        }

    def changes(self, current: dict | None, params: dict, *, team: Team) -> list[Change]:
        """The schedule is replaced as a whole: a field left out is no longer set."""
        requested = {name: params.get(name) for name in SCHEDULE_LABELS}
        return [] if current is None else rows(SCHEDULE_LABELS, current, requested)

    def outcome(self, ctx, results) -> Outcome:
        change = ctx.change
        return Outcome(
            result={"key": change.key_name, "schedule": change.params},
            hsm_request_ids=[],
            record_inventory=lambda now: record_schedule_set(
                name=change.key_name,
                params=change.params,
                approved_by=change.pk,
                payload_hash=change.payload_hash,
                now=now,
            ),
        )


class KeyRemoveRotationSchedule(OperationSpec):
    operation = Operation.KEY_REMOVE_ROTATION_SCHEDULE
    params = KeyNameParams

    def validate(self, params: dict, *, team: Team) -> dict:
        problems, name = Problems(), params.get("name")
        if (
            team_may_use(problems, team, name)
            and not RotationSchedule.objects.filter(key__name=name).exists()
        ):
            problems.add("name", f"Key {name} has no rotation schedule.")
        problems.raise_if_any()
        return {"name": name}

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        return []

    def preview(self, params: dict, *, request_id=None) -> str:
        return f"No HSM call. Keywarden stops rotating {params['name']} on a schedule."

    def outcome(self, ctx, results) -> Outcome:
        name = ctx.change.key_name
        return Outcome(
            result={"key": name, "schedule": None},
            hsm_request_ids=[],
            record_inventory=lambda now: record_schedule_removed(name=name, now=now),
        )


class VersionField(PatternField):
    pattern, message = r"\A[0-9a-zA-Z]{1,64}\Z", "A key version is 1-64 letters or digits."


class KeyDisableVersionParams(StrictSerializer):
    """An old (not the current) version of a live key of the team."""

    name = KeyNameField()
    version = VersionField(label="Version", help_text="Not the current one.")


class KeyDisableVersion(OperationSpec):
    operation = Operation.KEY_DISABLE_VERSION
    params = KeyDisableVersionParams

    def validate(self, params: dict, *, team: Team) -> dict:
        problems = Problems()
        key = (
            live_key(problems, params["name"])
            if team_may_use(problems, team, params.get("name"))
            else None
        )
        version = params.get("version")
        if key is not None and version:
            if version == key.current_version:
                problems.add(
                    "version", "That is the current version; disable the key with key.update."
                )
            elif not KeyVersion.objects.filter(key=key, version=version).exists():
                problems.add("version", f"Key {key.name} has no version {version}.")
        problems.raise_if_any()
        return params

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        return [HsmCall("update_key", params["name"], version=params["version"], enabled=False)]

    def outcome(self, ctx, results) -> Outcome:
        key = results[0]
        return Outcome(
            result={"key": key.name, "version": key.version, "enabled": key.enabled},
            hsm_request_ids=request_ids(key.request_id),
            record_inventory=lambda now: record_version_disabled(key=key, now=now),
        )


__all__ = ["KeyDisableVersion", "KeyRemoveRotationSchedule", "KeySetRotationSchedule"]
