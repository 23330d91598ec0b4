"""The request forms of the approvals app: one per operation (PRODUCT.md §5), built
from the operation's params serializer.

The request forms only shape input into the API's `params` (checkboxes → a list, `name=value`
lines → a dict, a .byok upload → its text); their fields, labels, choices, help texts and
lengths come from the serializer, and every rule is the operation's own validation, called
through `draft_request`/`submit_request`, whose `params.<field>[.<sub>]` errors
`add_service_errors` puts on the matching field.
"""

from __future__ import annotations

from typing import ClassVar

from django import forms
from django.utils.html import escape
from rest_framework import serializers

from accounts.selectors import principals_of
from approvals import form_fields
from approvals.forms import EMPTY, PortalForm
from approvals.models import (
    MAX_TEXT_LENGTH,
    Operation,
)
from approvals.nested_forms import (
    NestedRotationFields,
    ScheduleWindowFields,
    TopLevelRotationFields,
)
from approvals.operations import SPECS
from approvals.operations.base import OperationSpec
from approvals.operations.bulk import TargetsField
from approvals.operations.custody import PemField, StrictIntegerField, WitnessesField
from approvals.operations.fields import (
    JsonObjectField,
    KeyOpsField,
    StrictBooleanField,
    TagsField,
    TimestampField,
)
from approvals.operations.key_import import ByokFileField
from approvals.operations.key_schedule import WindowSerializer
from approvals.operations.plan import REQUEST_TAG
from approvals.operations.policies import RotationPolicySerializer
from approvals.operations.roles import KeyScopeField, PrincipalIdField
from keys.models import ROTATION_CLASS_TAG
from keys.selectors import live_keys_of

ROTATION_PARAMS = ("rotation_policy", "lifetime_actions", "expiry_time")
NESTED_PARAMS = (*ROTATION_PARAMS, "window")  # inputs of their own (the mixins below)
DETAILED = (JsonObjectField, ByokFileField)  # errors keep the path below the field


class RequestForm(PortalForm):
    """Team, justification and the operation's fields; `params()` is the API's `params`."""

    operation: ClassVar[str]
    # Fields whose errors keep the path below the field (`anyOf.0.authority: …`).
    detailed_fields: ClassVar[tuple[str, ...]] = ()
    # Every field is optional and means "change this": a form started from the key's current
    # values (`initial`) sends only the fields the user changed.
    sends_changed_only: ClassVar[bool] = False

    team = forms.ChoiceField(label="Team")
    justification = forms.CharField(
        label="Justification",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=MAX_TEXT_LENGTH,
        help_text="Why this change is needed; custodians read it before they decide.",
    )

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [(t.slug, f"{t.name} ({t.key_prefix}*)") for t in teams]
        if len(self.fields["team"].choices) == 1:
            self.fields["team"].initial = self.fields["team"].choices[0][0]
        rotation = [name for name in self.fields if name.startswith("rotation_")]
        own = [name for name in self.fields if name not in ("team", "justification", *rotation)]
        self.order_fields(["team", *own, *rotation, "justification"])
        self.offer_choices(teams)
        self.error_fields = {"team": "team", "justification": "justification"}
        self.error_fields.update(
            {f"params.{name}": name for name in self.spec.fields if name in self.fields}
        )

    def offer_choices(self, teams) -> None:
        """Fill the pickers with what the requester's teams have: their live keys as
        `/keys/<name>`, the principals of their directories (suggestions: the operation's
        validation still decides)."""
        for field in self.fields.values():
            if isinstance(field.widget, form_fields.KeyScopePicker):
                field.widget.options = [
                    (f"/keys/{key.name}", f"{key.name} ({key.team.slug})")
                    for key in live_keys_of(teams)
                ]
            elif isinstance(field.widget, form_fields.PrincipalPicker):
                field.widget.options = [
                    (
                        str(principal.object_id),
                        f"{principal.display_name} · {principal.get_principal_type_display()}"
                        f" · {principal.team.slug}",
                    )
                    for principal in principals_of(teams)
                ]

    @property
    def spec(self):
        return SPECS[self.operation]

    @property
    def title(self) -> str:
        return Operation(self.operation).label

    def params(self) -> dict:
        """The params from every field that parsed; blank fields are left out."""
        data = getattr(self, "cleaned_data", {})
        params = {name: data.get(name) for name in self.spec.fields if name in self.fields}
        params.update(self.extra_params(data))
        if self.sends_changed_only:
            kept = [name for name in params if name in self.initial and name != "name"]
            params = {n: v for n, v in params.items() if n not in kept or n in self.changed_data}
        return {name: value for name, value in params.items() if value not in EMPTY}

    def extra_params(self, data: dict) -> dict:
        return {}

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        """Put `Invalid.errors` on the fields they name; unknown keys become form errors.
        A field that already failed to parse keeps only its own error."""
        failed = set(self.errors)
        for key, messages in errors.items():
            field, rest = self._field_for(key)
            if field in failed:
                continue
            for message in messages:
                shown = f"{rest}: {message}" if rest and field in self.detailed_fields else message
                self.add_error(field, shown)

    def _field_for(self, key: str) -> tuple[str | None, str]:
        parts = key.split(".")
        for end in range(len(parts), 0, -1):
            field = self.error_fields.get(".".join(parts[:end]))
            if field is not None:
                return field, ".".join(parts[end:])
        return None, ""


def _choices(field: serializers.ChoiceField) -> list[tuple]:
    label = field.label or ""
    blank = f"Choose {'an' if label[:1].lower() in 'aeiou' else 'a'} {label.lower()}"
    return [("", blank if field.required else "—"), *field.choices.items()]


def form_field(field: serializers.Field) -> forms.Field:
    """The input for one params field: its label, help text, choices, required, length."""
    # Django renders a help text as HTML; these are the API's plain text ("/keys/<name>").
    common = {
        "label": field.label,
        "required": field.required,
        "help_text": escape(field.help_text or ""),
    }
    if isinstance(field, KeyOpsField):
        choices = list(field.child.choices.items())
        return forms.MultipleChoiceField(
            choices=choices, widget=forms.CheckboxSelectMultiple, **common
        )
    if isinstance(field, WitnessesField):
        return form_fields.LinesField(**{**common, "help_text": "One name per line."})
    if isinstance(field, PemField):
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), **common)
    if isinstance(field, StrictIntegerField):
        return forms.IntegerField(min_value=field.min_value, max_value=field.max_value, **common)
    if isinstance(field, TargetsField):
        hint = f"One key name per line. {field.help_text or ''}".strip()
        return form_fields.LinesField(**{**common, "help_text": hint})
    if isinstance(field, TagsField):
        hint = f"One name=value per line. {field.help_text or ''}".strip()
        return form_fields.TagsField(**{**common, "help_text": hint})
    if isinstance(field, KeyScopeField):
        return forms.CharField(widget=form_fields.KeyScopePicker(), **common)
    if isinstance(field, PrincipalIdField):
        return forms.CharField(widget=form_fields.PrincipalPicker(), **common)
    if isinstance(field, TimestampField):
        return form_fields.UtcDateTimeField(**common)
    if isinstance(field, JsonObjectField):
        return form_fields.JsonTextField(**common)
    if isinstance(field, ByokFileField):
        accept = forms.ClearableFileInput(attrs={"accept": ".byok,application/json"})
        return form_fields.ByokFileField(widget=accept, **common)
    if isinstance(field, StrictBooleanField) and field.default is serializers.empty:
        choices = [("", "Leave as is"), ("true", "Yes"), ("false", "No")]
        return forms.TypedChoiceField(
            coerce=lambda value: value == "true", empty_value=None, choices=choices, **common
        )
    if isinstance(field, StrictBooleanField):
        return forms.BooleanField(**{**common, "required": False})
    if isinstance(field, serializers.ChoiceField):
        is_int = all(isinstance(value, int) for value in field.choices)
        coerce = int if is_int else str
        return forms.TypedChoiceField(
            coerce=coerce, empty_value=None if is_int else "", choices=_choices(field), **common
        )
    return forms.CharField(max_length=getattr(field, "max_length", None), **common)


def request_form_class(spec: OperationSpec) -> type[RequestForm]:
    """The request form of `spec`, field for field from its params serializer."""
    params = spec.params().fields
    bases: tuple[type, ...] = (RequestForm,)
    if isinstance(params.get("rotation_policy"), RotationPolicySerializer):
        bases = (NestedRotationFields, RequestForm)
    elif "lifetime_actions" in params:
        bases = (TopLevelRotationFields, RequestForm)
    elif isinstance(params.get("window"), WindowSerializer):
        bases = (ScheduleWindowFields, RequestForm)
    attrs: dict = {
        "__module__": __name__,
        "operation": spec.operation,
        "detailed_fields": tuple(n for n, f in params.items() if isinstance(f, DETAILED)),
    }
    attrs.update(
        {name: form_field(field) for name, field in params.items() if name not in NESTED_PARAMS}
    )
    return type(f"{type(spec).__name__}Form", bases, attrs)


REQUEST_FORMS: dict[str, type[RequestForm]] = {
    operation: request_form_class(spec) for operation, spec in SPECS.items()
}
REQUEST_FORMS[Operation.KEY_UPDATE].sends_changed_only = True
RESERVED_TAGS = (REQUEST_TAG, ROTATION_CLASS_TAG)  # the tags input refuses them


def initial_from_current(form_class: type[RequestForm], current: dict | None) -> dict:
    """The form's inputs for a key's current values (`OperationSpec.current`), so the form
    starts from what is; values the form has no input for are left out."""
    fields, initial = form_class.base_fields, {}
    for name, value in (current or {}).items():
        field = fields.get(name)
        if field is None or value is None:
            continue
        if isinstance(value, bool):
            initial[name] = "true" if value else "false"
        elif isinstance(field, form_fields.UtcDateTimeField):
            initial[name] = value[:19]  # what a datetime-local input shows, read back as UTC
        elif isinstance(field, form_fields.TagsField):
            shown = [
                f"{tag}={text}" for tag, text in sorted(value.items()) if tag not in RESERVED_TAGS
            ]
            initial.update({name: "\n".join(shown)} if shown else {})
        else:
            initial[name] = value
    if "rotation_trigger" in fields and current and "lifetime_actions" in current:
        initial.update(_rotation_inputs(current))
    window = (current or {}).get("window")
    if window and "window_weekdays" in fields:
        initial.update(
            window_weekdays=window["weekdays"],
            window_start_hour_utc=window["start_hour_utc"],
            window_hours=window["hours"],
        )
    return initial


def _rotation_inputs(policy: dict) -> dict:
    """A rotation policy as RotationFields' four inputs."""
    inputs = {"rotation_expiry_time": policy.get("expiry_time") or ""}
    for action in policy.get("lifetime_actions") or []:
        trigger = next((t for t in ("time_after_create", "time_before_expiry") if t in action), "")
        if action.get("action") == "Rotate" and trigger:
            inputs.update(rotation_trigger=trigger, rotation_period=action[trigger])
        elif action.get("action") == "Notify" and action.get("time_before_expiry"):
            inputs["rotation_notify"] = action["time_before_expiry"]
    return inputs


KeyCreateForm = REQUEST_FORMS[Operation.KEY_CREATE]
