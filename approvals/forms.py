"""HTML forms of the approvals app: the base every portal form shares, the custodian's
decision and the admin's policy edit. The request forms are in approvals/request_forms.py."""

from __future__ import annotations

from datetime import timedelta

from django import forms

from approvals.models import (
    MAX_APPROVALS,
    MAX_MAX_WAIT,
    MAX_TEXT_LENGTH,
    MIN_APPROVALS,
    MIN_MAX_WAIT,
)
from approvals.services.policies import INDEPENDENT_APPROVERS_HELP, wait_in_words

EMPTY = (None, "", [], {})


class PortalForm(forms.Form):
    """Labels without a colon; required fields get the `required` class (an asterisk)."""

    required_css_class = "required"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


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
    require_independent_approvers = forms.BooleanField(
        label="Require independent approvers",
        required=False,
        help_text=INDEPENDENT_APPROVERS_HELP,
    )

    def add_service_errors(self, errors: dict[str, list[str]]) -> None:
        fields = {"approvals_required": "approvals_required", "max_wait": "max_wait_hours"}
        for key, messages in errors.items():
            for message in messages:
                self.add_error(fields.get(key), message)
