"""HTML forms of the keys app. Shape only: `update_rotation_standard` checks the durations and
the class, and its field errors land on these fields."""

from __future__ import annotations

from django import forms

from accounts.models import (
    DISPLAY_NAME_MAX_LENGTH,
    PRINCIPAL_DESCRIPTION_MAX_LENGTH,
    PrincipalType,
)
from keys.models import ISO_DURATION_MAX_LENGTH


class KeysForm(forms.Form):
    """Labels without a colon; required fields get the `required` class (an asterisk)."""

    required_css_class = "required"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        for name, messages in errors.items():
            for message in messages:
                self.add_error(name if name in self.fields else None, message)


class RotationStandardForm(KeysForm):
    max_age = forms.CharField(
        label="Maximum age",
        max_length=ISO_DURATION_MAX_LENGTH,
        help_text="The longest a key's current version may live, ISO-8601: P90D, P6M, P2Y.",
    )
    warn_before = forms.CharField(
        label="Warn before",
        max_length=ISO_DURATION_MAX_LENGTH,
        help_text="How long before the due date owners are warned; shorter than the maximum age.",
    )


class TeamOverrideForm(RotationStandardForm):
    """A team's own standard for one class (the class's standard no longer applies to it)."""

    key_class = forms.ChoiceField(label="Rotation class")
    team = forms.ChoiceField(label="Team")
    field_order = ["key_class", "team", "max_age", "warn_before"]

    def __init__(self, *args, classes: list[str], teams: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key_class"].choices = [("", "Choose a class"), *((c, c) for c in classes)]
        self.fields["team"].choices = [("", "Choose a team"), *teams]


class PrincipalForm(KeysForm):
    """One entry of a team's principal directory (save_principal checks the rest)."""

    object_id = forms.UUIDField(
        label="Object id",
        help_text="The principal's Entra ID object id (for an application: its service "
        "principal's, under Enterprise applications).",
    )
    display_name = forms.CharField(label="Display name", max_length=DISPLAY_NAME_MAX_LENGTH)
    principal_type = forms.ChoiceField(
        label="Principal type", choices=[("", "Choose a type"), *PrincipalType.choices]
    )
    description = forms.CharField(
        label="Description",
        required=False,
        max_length=PRINCIPAL_DESCRIPTION_MAX_LENGTH,
        help_text="Optional: what it is, who owns it.",
    )
