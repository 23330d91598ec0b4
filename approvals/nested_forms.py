"""Request-form inputs of their own for params that nest: a rotation policy (key.create's
optional one, key.set_rotation_policy's whole params) and a rotation schedule's window."""

from __future__ import annotations

from typing import ClassVar

from django import forms

from approvals.forms import EMPTY, PortalForm
from approvals.operations.policies import RotationPolicySerializer
from keys.schedules import WEEKDAYS

DURATION_HELP = "ISO-8601 duration, e.g. P90D, P3M or P1Y."
EXPIRY = RotationPolicySerializer().fields["expiry_time"]


class RotationFields(PortalForm):
    """A rotation policy as four inputs: a Rotate action, expiry, and an optional Notify."""

    rotation_prefix: ClassVar[str] = "params.rotation_policy."

    rotation_trigger = forms.ChoiceField(
        label="Automatic rotation",
        required=False,
        choices=[
            ("", "None"),
            ("time_after_create", "Rotate a period after each version is created"),
            ("time_before_expiry", "Rotate a period before each version expires"),
        ],
    )
    rotation_period = forms.CharField(
        label="Rotation period", required=False, help_text=DURATION_HELP
    )
    rotation_expiry_time = forms.CharField(
        label=EXPIRY.label, required=False, help_text=EXPIRY.help_text
    )
    rotation_notify = forms.CharField(
        label="Notify this long before expiry",
        required=False,
        help_text="Optional. " + DURATION_HELP,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        prefix = self.rotation_prefix
        if prefix != "params.":  # a nested policy: errors about it as a whole
            self.error_fields[prefix.rstrip(".")] = "rotation_trigger"
        self.error_fields[f"{prefix}lifetime_actions"] = "rotation_trigger"
        self.error_fields[f"{prefix}expiry_time"] = "rotation_expiry_time"

    def rotation_policy(self, data: dict) -> dict | None:
        """`{"lifetime_actions": [...], "expiry_time": ...}`, recording which input each
        action's errors belong to (indices follow the inputs given)."""
        names = ("rotation_trigger", "rotation_period", "rotation_expiry_time", "rotation_notify")
        trigger, period, expiry, notify = (data.get(name) or "" for name in names)
        if not (trigger or period or expiry or notify):
            return None
        prefix, actions = self.rotation_prefix, []
        if trigger or period:
            where = f"{prefix}lifetime_actions.{len(actions)}"
            self.error_fields[where] = "rotation_trigger"
            self.error_fields[f"{where}.time_after_create"] = "rotation_period"
            self.error_fields[f"{where}.time_before_expiry"] = "rotation_period"
            actions.append({"action": "Rotate", **({trigger: period} if trigger else {})})
        if notify:
            self.error_fields[f"{prefix}lifetime_actions.{len(actions)}"] = "rotation_notify"
            actions.append({"action": "Notify", "time_before_expiry": notify})
        return {"lifetime_actions": actions, **({"expiry_time": expiry} if expiry else {})}


class NestedRotationFields(RotationFields):
    """key.create's optional `rotation_policy`."""

    def extra_params(self, data: dict) -> dict:
        return {"rotation_policy": self.rotation_policy(data)}


class TopLevelRotationFields(RotationFields):
    """key.set_rotation_policy: the policy is the params (besides the key name)."""

    rotation_prefix = "params."

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rotation_trigger"].required = True
        self.fields["rotation_trigger"].choices = self.fields["rotation_trigger"].choices[1:]

    def extra_params(self, data: dict) -> dict:
        return self.rotation_policy(data) or {}


class ScheduleWindowFields(PortalForm):
    """key.set_rotation_schedule's optional `window` as three inputs."""

    window_weekdays = forms.TypedMultipleChoiceField(
        label="Window weekdays",
        required=False,
        coerce=int,
        choices=list(enumerate(WEEKDAYS)),
        widget=forms.CheckboxSelectMultiple,
        help_text="None: runs may happen at any time.",
    )
    window_start_hour_utc = forms.TypedChoiceField(
        label="Window opens (UTC)",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—"), *((hour, f"{hour:02d}:00") for hour in range(24))],
    )
    window_hours = forms.TypedChoiceField(
        label="Window length (hours)",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—"), *((hours, str(hours)) for hours in range(1, 25))],
    )
    WINDOW_INPUTS: ClassVar[dict[str, str]] = {
        "weekdays": "window_weekdays",
        "start_hour_utc": "window_start_hour_utc",
        "hours": "window_hours",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.error_fields["params.window"] = "window_weekdays"
        for name, field in self.WINDOW_INPUTS.items():
            self.error_fields[f"params.window.{name}"] = field

    def extra_params(self, data: dict) -> dict:
        given = {name: data.get(field) for name, field in self.WINDOW_INPUTS.items()}
        if all(value in EMPTY for value in given.values()):
            return {}
        return {"window": {name: value for name, value in given.items() if value not in EMPTY}}
