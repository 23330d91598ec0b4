"""Stored structures as readable fields (portal/templatetags/readable.py): rotation policies on
key detail, request params and results on request detail, with the raw JSON kept beside them;
and the decision badges' words."""

from __future__ import annotations

import re

import pytest

from approvals import services
from approvals.models import ChangeRequest, Operation, State
from audit.context import AuditContext
from portal.templatetags.readable import duration_words, readable
from tests.approvals.conftest import submit

POLICY = {
    "lifetime_actions": [
        {"action": "Rotate", "time_after_create": "P90D"},
        {"action": "Notify", "time_before_expiry": "P30D"},
    ],
    "expiry_time": "P1Y",
}


def fields(html: str, element_id: str) -> tuple[list[str], list[str]]:
    """The terms, and the texts of the innermost definitions, inside the element with that id
    (before its raw JSON)."""
    block = re.search(rf'id="{element_id}">(.*?)<details', html, re.S).group(1)
    text = re.sub(r"<(?!/?d[td]\b)[^>]+>", "", block)  # keep only the dt/dd tags
    return re.findall(r"<dt>(.*?)</dt>", text), re.findall(r"<dd>([^<]+)</dd>", text)


def test_key_detail_shows_the_rotation_policy_as_fields_with_the_raw_json(
    client_for, requester, inventory
):
    # given
    key = inventory["pay-live"]
    key.rotation_policy = POLICY
    key.save()

    # when
    html = client_for(requester).get("/keys/pay-live/").content.decode()

    # then
    terms, values = fields(html, "rotation-policy")
    assert terms == [
        "Lifetime actions",
        "Action",
        "After creation",
        "Action",
        "Before expiry",
        "New versions expire after",
    ]
    assert values == ["Rotate", "90 days P90D", "Notify", "30 days P30D", "1 year P1Y"]
    assert "<summary>Raw JSON</summary>" in html
    assert "&quot;expiry_time&quot;: &quot;P1Y&quot;" in html


def test_request_detail_links_the_result_to_the_key_and_its_versions(
    client_for, requester, inventory
):
    # given
    change = submit(requester, Operation.KEY_ROTATE, params={"name": "pay-live"})
    result = {"key": "pay-live", "version": "a" * 32, "previous_version": "b" * 32}
    ChangeRequest.objects.filter(pk=change.pk).update(state=State.SUCCEEDED, result=result)

    # when
    html = client_for(requester).get(f"/requests/{change.pk}/").content.decode()

    # then
    assert fields(html, "request-result") == (
        ["Key", "Version", "Previous version"],
        ["pay-live", "a" * 32, "b" * 32],
    )
    assert '<dd><a href="/keys/pay-live/">pay-live</a></dd>' in html
    assert f'<a href="/keys/pay-live/#versions"><code>{"a" * 32}</code></a>' in html
    assert fields(html, "payload") == (["Key name"], ["pay-live"])  # the form's label


def test_params_take_the_request_forms_labels(db):
    # given
    params = {"name": "pay-x", "kty": "EC-HSM", "exportable": False, "rotation_policy": POLICY}

    # when
    html = readable(params, Operation.KEY_CREATE)

    # then
    terms = re.findall(r"<dt>(.*?)</dt>", html)
    assert terms == [
        "Key name",
        "Key type",
        "Exportable (secure key release)",
        "Rotation policy",
        "Lifetime actions",
        "Action",
        "After creation",
        "Action",
        "Before expiry",
        "New versions expire after",
    ]
    assert "<dd>no</dd>" in html


def test_a_role_assignment_result_links_to_the_keys_assignments(inventory):
    # given
    result = {
        "assignment": "9b9b9b9b-0000-4000-8000-000000000001",
        "scope": "/keys/pay-live",
        "role": "Managed HSM Crypto User",
        "principal_id": "0a0a0a0a-0000-4000-8000-000000000001",
    }

    # when
    html = readable(result, Operation.ROLE_ASSIGN)

    # then
    assert (
        '<dt>Role assignment</dt><dd><a href="/keys/pay-live/#assignments">'
        "<code>9b9b9b9b-0000-4000-8000-000000000001</code></a></dd>"
    ) in html
    assert (
        '<dt>Scope</dt><dd><a href="/keys/pay-live/">pay-live</a> <code>/keys/pay-live</code>'
        in (html)
    )


def test_a_bulk_result_names_each_failed_key_and_counts_without_links(inventory):
    # given
    failed = {"pay-rsa": {"error": "HsmForbidden"}}
    result = {"targets": 2, "succeeded": ["pay-live"], "failed": failed}

    # when
    html = readable(result, Operation.KEY_ROTATE)

    # then
    assert html.startswith('<dl class="properties"><dt>Keys</dt><dd>2</dd>')
    assert '<dt>Succeeded</dt><dd><a href="/keys/pay-live/">pay-live</a></dd>' in html
    assert '<dt><a href="/keys/pay-rsa/">pay-rsa</a></dt><dd><dl class="properties">' in html


def test_the_key_comes_first_and_a_nested_policy_keeps_its_order(inventory):
    # given: the serializer declares the policy's fields before the key's name
    params = {"expiry_time": "P1Y", "name": "pay-live", "lifetime_actions": []}

    # when
    html = readable({**params, "rotation_policy": params}, Operation.KEY_SET_ROTATION_POLICY)

    # then
    assert re.findall(r"<dt>(.*?)</dt>", html) == [
        "Key name",
        "Lifetime actions",
        "New versions expire after",
        "Rotation policy",
        "Key name",
        "Lifetime actions",
        "New versions expire after",
    ]


def test_a_key_not_in_the_inventory_is_named_without_a_link(inventory):
    # given: a pending key.create names a key that does not exist yet
    params = {"name": "pay-new", "kty": "EC-HSM"}

    # when
    html = readable(params, Operation.KEY_CREATE)

    # then
    assert html.startswith('<dl class="properties"><dt>Key name</dt><dd><code>pay-new</code></dd>')
    assert "href" not in html


@pytest.mark.parametrize(
    ("_case", "duration", "words"),
    [
        ("days", "P90D", "90 days"),
        ("one of each", "P1Y1M1W1DT1H1M1S", "1 year 1 month 1 week 1 day 1 hour 1 minute 1 second"),
        ("time only", "PT12H", "12 hours"),
        ("not a duration", "90 days", None),
        ("trailing newline", "P1D\n", None),
    ],
)
def test_durations_read_in_words(_case, duration, words):
    assert duration_words(duration) == words


def test_a_rejection_reads_rejected_on_the_request_page(
    client_for, requester, custodian, payments_team
):
    # given
    change = services.reject_request(
        request_id=submit(requester).pk,
        custodian=custodian,
        comment="Not now.",
        ctx=AuditContext(actor=custodian),
    )

    # when
    html = client_for(requester).get(f"/requests/{change.pk}/").content.decode()

    # then
    assert '<span class="badge bad">Rejected</span>' in html
    assert "Rejectd" not in html
