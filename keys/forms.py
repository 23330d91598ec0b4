"""HTML forms of the keys app. Shape only: `update_rotation_standard` checks the durations and
the class, and its field errors land on these fields."""

from __future__ import annotations

from django import forms

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
