"""The filter forms of the list pages: human labels and help texts, declared once on the
FilterSets the API shares, "Any" for an unset choice and no colons."""

from __future__ import annotations

import re

import pytest

from approvals.filters import ChangeRequestFilter
from audit.filters import AuditEventFilter
from keys.filters import ManagedKeyFilter

MACHINE_LABELS = ("[invalid name]", "is null", "Exclude ")


def filter_labels(response) -> dict[str, str]:
    """`{field name: label text}` of the page's filter form (the filterset's fields only)."""
    form = response.context["filter_form"]
    html = response.content.decode()
    return {
        name: re.search(rf'<label for="id_{name}"[^>]*>([^<]*)</label>', html).group(1)
        for name in form.fields
    }


def test_inventory_filter_form_shows_a_human_label_for_every_field(client_for, requester):
    # when
    response = client_for(requester).get("/keys/")

    # then
    assert filter_labels(response) == {
        "team": "Team",
        "kty": "Key type",
        "enabled": "Enabled",
        "state": "State",
        "deleted": "Deleted",
        "drift": "Drift",
        "managed": "Managed by Keywarden",
        "compliance": "Compliance",
        "rotation_class": "Rotation class",
        "mechanism": "Rotated by",
        "due_before": "Due before",
        "due_after": "Due after",
        "applicable": "Judged for rotation",
        "expires_before": "Expires before",
        "expires_after": "Expires after",
    }
    html = response.content.decode()
    assert [text for text in MACHINE_LABELS if text in html] == []


def test_inventory_filter_form_explains_its_yes_no_filters_and_offers_any(client_for, requester):
    # when
    response = client_for(requester).get("/keys/")

    # then
    form = response.context["filter_form"]
    assert form.label_suffix == ""
    assert form.fields["managed"].help_text == (
        "Yes: keys Keywarden manages; No: keys made outside Keywarden."
    )
    assert form.fields["managed"].widget.choices == [
        ("unknown", "Any"),
        ("true", "Yes"),
        ("false", "No"),
    ]
    assert list(form.fields["state"].choices) == [
        ("", "Any"),
        ("active", "Active"),
        ("deleted", "Deleted (recoverable)"),
        ("purged", "Purged"),
    ]


@pytest.mark.parametrize(
    ("_case", "path", "user", "filterset"),
    [
        ("requests", "/requests/", "requester", ChangeRequestFilter),
        ("audit trail", "/audit/", "auditor", AuditEventFilter),
    ],
)
def test_list_pages_label_their_filters_as_the_filterset_declares(
    _case, path, user, filterset, client_for, request
):
    # when
    response = client_for(request.getfixturevalue(user)).get(path)

    # then
    assert filter_labels(response) == {
        name: declared.label for name, declared in filterset.base_filters.items()
    }


@pytest.mark.parametrize(
    ("_case", "filterset"),
    [
        ("keys", ManagedKeyFilter),
        ("requests", ChangeRequestFilter),
        ("audit", AuditEventFilter),
    ],
)
def test_every_filter_declares_its_label(_case, filterset):
    assert [name for name, declared in filterset.base_filters.items() if not declared.label] == []
