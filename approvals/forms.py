"""HTML forms of the approvals app: one request form per operation (PRODUCT.md §5), the
custodian's decision and the admin's policy edit.

The request forms only shape input into the API's `params` (checkboxes → a list, `name=value`
lines → a dict, a .byok upload → its text); every rule is the operation's own validation,
called through `draft_request`/`submit_request`, whose `params.<field>[.<sub>]` errors
`add_service_errors` puts on the matching field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from django import forms

from approvals.form_fields import ByokFileField, JsonTextField, TagsField, UtcDateTimeField
from approvals.models import (
    MAX_APPROVALS,
    MAX_MAX_WAIT,
    MAX_TEXT_LENGTH,
    MIN_APPROVALS,
    MIN_MAX_WAIT,
    Operation,
)
from approvals.operations import SELF_SERVICE_ROLES, SPECS
from approvals.operations.base import AES_SIZES, CURVES, KEY_TYPES, OPS_FOR_KTY, RSA_SIZES
from approvals.operations.key_import import MAX_BYOK_BYTES
from approvals.operations.roles import PRINCIPAL_TYPES
from approvals.services.policies import wait_in_words

ALL_KEY_OPS = list(dict.fromkeys(op for ops in OPS_FOR_KTY.values() for op in ops))
KEY_OPS_HELP = "; ".join(f"{kty}: {', '.join(ops)}" for kty, ops in OPS_FOR_KTY.items())
DURATION_HELP = "ISO-8601 duration, e.g. P90D, P3M or P1Y."
EMPTY = (None, "", [], {})


def _blank(label: str, choices) -> list[tuple]:
    return [("", label), *[(value, value) for value in choices]]


class PortalForm(forms.Form):
    """Labels without a colon; required fields get the `required` class (an asterisk)."""

    required_css_class = "required"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class RequestForm(PortalForm):
    """Team, justification and the operation's fields; `params()` is the API's `params`."""

    operation: ClassVar[str]
    # Fields whose errors keep the path below the field (`anyOf.0.authority: …`).
    detailed_fields: ClassVar[tuple[str, ...]] = ()

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
        self.error_fields = {"team": "team", "justification": "justification"}
        self.error_fields.update(
            {f"params.{name}": name for name in self.spec.fields if name in self.fields}
        )

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
        label="New versions expire after", required=False, help_text=DURATION_HELP
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


def name_field() -> forms.CharField:
    return forms.CharField(
        label="Key name", max_length=127, help_text="Starts with your team's key prefix."
    )


def kty_field() -> forms.ChoiceField:
    return forms.ChoiceField(label="Key type", choices=_blank("Choose a key type", KEY_TYPES))


def key_ops_field(*, required: bool = True) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label="Key operations",
        required=required,
        choices=[(op, op) for op in ALL_KEY_OPS],
        widget=forms.CheckboxSelectMultiple,
        help_text=f"Allowed per key type — {KEY_OPS_HELP}.",
    )


def tags_field() -> TagsField:
    return TagsField(label="Tags", required=False, help_text="One name=value per line.")


def when_field(label: str) -> UtcDateTimeField:
    return UtcDateTimeField(label=label, required=False, help_text="UTC.")


class KeyCreateForm(RotationFields, RequestForm):
    operation = Operation.KEY_CREATE
    detailed_fields = ("release_policy",)

    name = name_field()
    kty = kty_field()
    size = forms.TypedChoiceField(
        label="Key size (bits)",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "—"), *[(size, str(size)) for size in (*RSA_SIZES, *AES_SIZES)]],
        help_text="RSA-HSM: 2048, 3072 or 4096; oct-HSM (AES): 128, 192 or 256.",
    )
    curve = forms.ChoiceField(
        label="Curve", required=False, choices=_blank("—", CURVES), help_text="EC-HSM only."
    )
    key_ops = key_ops_field()
    exportable = forms.BooleanField(label="Exportable (secure key release)", required=False)
    release_policy = JsonTextField(
        label="Release policy (JSON)",
        required=False,
        help_text='Exportable keys only: {"version": "1.0.0", "anyOf": [{"authority": '
        '"https://…", "allOf": [{"claim": "…", "equals": …}]}]}.',
    )
    not_before = when_field("Not before")
    expires_on = when_field("Expires on")
    tags = tags_field()

    def extra_params(self, data: dict) -> dict:
        return {"rotation_policy": self.rotation_policy(data)}


class KeyImportForm(RequestForm):
    operation = Operation.KEY_IMPORT
    detailed_fields = ("byok",)

    name = name_field()
    kty = kty_field()
    byok = ByokFileField(
        label="BYOK transfer file (.byok)",
        help_text=f"JSON written by your HSM vendor's tool, at most {MAX_BYOK_BYTES // 1024} "
        "KiB, wrapped to one of your team's key-exchange keys.",
        widget=forms.ClearableFileInput(attrs={"accept": ".byok,application/json"}),
    )
    key_ops = key_ops_field()
    tags = tags_field()


class KeyNameForm(RequestForm):
    name = name_field()


class KeyRotateForm(KeyNameForm):
    operation = Operation.KEY_ROTATE


class KeyDeleteForm(KeyNameForm):
    operation = Operation.KEY_DELETE


class KeyRecoverForm(KeyNameForm):
    operation = Operation.KEY_RECOVER


class KeyPurgeForm(KeyNameForm):
    operation = Operation.KEY_PURGE


class KeyBackupForm(KeyNameForm):
    operation = Operation.KEY_BACKUP


class KeySetRotationPolicyForm(RotationFields, RequestForm):
    operation = Operation.KEY_SET_ROTATION_POLICY
    rotation_prefix = "params."

    name = name_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rotation_trigger"].required = True
        self.fields["rotation_trigger"].choices = self.fields["rotation_trigger"].choices[1:]

    def extra_params(self, data: dict) -> dict:
        return self.rotation_policy(data) or {}


class KeyUpdateForm(RequestForm):
    operation = Operation.KEY_UPDATE

    name = name_field()
    enabled = forms.TypedChoiceField(
        label="Enabled",
        required=False,
        coerce=lambda value: value == "true",
        empty_value=None,
        choices=[("", "Leave as is"), ("true", "Enable"), ("false", "Disable")],
    )
    not_before = when_field("Not before")
    expires_on = when_field("Expires on")
    key_ops = key_ops_field(required=False)
    tags = tags_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("key_ops", "tags", "not_before", "expires_on"):
            self.fields[name].help_text += " Leave empty to keep the current value."


class RoleAssignForm(RequestForm):
    operation = Operation.ROLE_ASSIGN

    role = forms.ChoiceField(label="Role", choices=_blank("Choose a role", SELF_SERVICE_ROLES))
    principal_id = forms.CharField(
        label="Principal object id", help_text="The Entra ID object id (GUID) of the principal."
    )
    principal_type = forms.ChoiceField(
        label="Principal type", choices=_blank("Choose a type", PRINCIPAL_TYPES)
    )
    scope = forms.CharField(label="Scope", help_text="One of your team's keys: /keys/<name>.")


class RoleRevokeForm(RequestForm):
    operation = Operation.ROLE_REVOKE

    assignment = forms.CharField(
        label="Role assignment", help_text="The assignment's name (GUID), as the key page lists."
    )


REQUEST_FORMS: dict[str, type[RequestForm]] = {
    form.operation: form
    for form in (
        KeyCreateForm,
        KeyImportForm,
        KeyRotateForm,
        KeySetRotationPolicyForm,
        KeyUpdateForm,
        KeyDeleteForm,
        KeyRecoverForm,
        KeyPurgeForm,
        KeyBackupForm,
        RoleAssignForm,
        RoleRevokeForm,
    )
}


class DecisionForm(PortalForm):
    comment = forms.CharField(
        label="Comment",
        required=False,
        max_length=MAX_TEXT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required to reject.",
    )


class PolicyForm(PortalForm):
    # No bounds of its own: the service's range check is the one the page shows.
    approvals_required = forms.IntegerField(
        label="Approvals required",
        help_text=f"Between {MIN_APPROVALS} and {MAX_APPROVALS} custodians.",
    )
    max_wait_hours = forms.IntegerField(
        label="Maximum wait (hours)",
        help_text=f"A pending request expires after this long: {wait_in_words(MIN_MAX_WAIT)} to "
        f"{wait_in_words(MAX_MAX_WAIT)} ({MAX_MAX_WAIT // timedelta(hours=1)} hours).",
    )

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        fields = {"approvals_required": "approvals_required", "max_wait": "max_wait_hours"}
        for key, messages in errors.items():
            for message in messages:
                self.add_error(fields.get(key), message)
