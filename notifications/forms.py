"""Forms of the notification pages: shape only; the services decide."""

from __future__ import annotations

from django import forms

from notifications.models import ALWAYS_ON, KIND_CHANNELS, Kind

WEBHOOK_HELP = (
    "Paste the full https:// URL. It is a credential: after saving, only its host and last "
    "four characters are shown. Leave empty to keep the current one."
)


def preference_field_name(kind: str, channel: str) -> str:
    return f"{kind}:{channel}"


class PreferencesForm(forms.Form):
    """One checkbox per kind and personal channel; the ALWAYS_ON ones are shown locked."""

    def __init__(self, *args, enabled: dict[str, set[str]], **kwargs):
        super().__init__(*args, **kwargs)
        for kind in Kind:
            for channel in KIND_CHANNELS[kind]:
                locked = (kind, channel) in ALWAYS_ON
                self.fields[preference_field_name(kind, channel)] = forms.BooleanField(
                    required=False,
                    initial=locked or channel in enabled[kind],
                    disabled=locked,  # a disabled field keeps its initial value: on
                    label=f"{kind.label}: {channel.label}",
                )

    def enabled(self) -> dict[str, set[str]]:
        return {
            kind: {
                channel
                for channel in KIND_CHANNELS[kind]
                if self.cleaned_data[preference_field_name(kind, channel)]
            }
            for kind in Kind
        }


class ChatChannelsForm(forms.Form):
    teams_webhook_url = forms.URLField(
        required=False,
        max_length=1000,
        assume_scheme="https",
        label="Microsoft Teams webhook (Workflows or incoming webhook)",
        help_text=WEBHOOK_HELP,
    )
    slack_webhook_url = forms.URLField(
        required=False,
        max_length=1000,
        assume_scheme="https",
        label="Slack incoming webhook",
        help_text=WEBHOOK_HELP,
    )
    remove_teams = forms.BooleanField(required=False, label="Remove the Microsoft Teams webhook")
    remove_slack = forms.BooleanField(required=False, label="Remove the Slack webhook")

    def changes(self) -> dict[str, str | None]:
        """Per URL: the new one, "" to remove it, None to keep it."""
        data = self.cleaned_data
        return {
            field: "" if data[remove] else (data[field] or None)
            for field, remove in (
                ("teams_webhook_url", "remove_teams"),
                ("slack_webhook_url", "remove_slack"),
            )
        }
