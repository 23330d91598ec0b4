"""Current → requested per field: captured at submission, shown in the API detail, and flagged
when the key changed since (approvals.operations.diff)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from approvals.models import State
from approvals.operations import changed_since_submission, changes_of, spec_for
from approvals.operations.plan import HsmCall
from approvals.services import draft_request
from audit.models import AuditEvent
from keys.models import ManagedKey, RotationSchedule
from tests.approvals.conftest import submit
from tests.factories import ManagedKeyFactory

UPDATE_CURRENT = {
    "enabled": True,
    "not_before": None,
    "expires_on": "2027-03-01T12:00:00+00:00",
    "key_ops": ["sign", "verify"],
    "tags": {"keywarden-class": "standard", "owner": "checkout"},
}
POLICY = {"lifetime_actions": [{"action": "Rotate", "time_after_create": "P90D"}]}


@pytest.fixture
def key(payments_team):
    return ManagedKeyFactory(
        name="pay-diff",
        team=payments_team,
        expires_on=datetime(2027, 3, 1, 12, 0, 0, 123, tzinfo=UTC),
        key_ops=["verify", "sign"],
        tags={"owner": "checkout", "keywarden-class": "standard"},
        rotation_policy={**POLICY, "expiry_time": "P1Y"},
    )


def test_update_captures_current_values_and_diffs_every_field(key, requester):
    # when
    change = submit(
        requester, "key.update", params={"name": "pay-diff", "enabled": False, "tags": {"a": "1"}}
    )
    # then
    assert change.current_values == UPDATE_CURRENT
    assert [row.as_dict() for row in changes_of(change)] == [
        {
            "field": "enabled",
            "label": "Enabled",
            "current": True,
            "requested": False,
            "changed": True,
        },
        {
            "field": "not_before",
            "label": "Not before",
            "current": None,
            "requested": None,
            "changed": False,
        },
        {
            "field": "expires_on",
            "label": "Expires on",
            "current": "2027-03-01T12:00:00+00:00",
            "requested": "2027-03-01T12:00:00+00:00",
            "changed": False,
        },
        {
            "field": "key_ops",
            "label": "Key operations",
            "current": ["sign", "verify"],
            "requested": ["sign", "verify"],
            "changed": False,
        },
        {
            "field": "tags",
            "label": "Tags",
            "current": {"keywarden-class": "standard", "owner": "checkout"},
            "requested": {"a": "1", "keywarden-class": "standard"},
            "changed": True,
        },
    ]
    submitted = AuditEvent.objects.get(action="request.submitted", target_id=str(change.pk))
    assert submitted.after["current_values"] == UPDATE_CURRENT


def test_new_tags_keep_the_keys_rotation_class_tag(key, requester):
    # when: the tags input refuses keywarden-class, and new tags replace all of them in the HSM
    change = submit(requester, "key.update", params={"name": "pay-diff", "tags": {"a": "1"}})

    # then: the request (and so the HSM call) carries the key's class over
    assert change.params["tags"] == {"a": "1", "keywarden-class": "standard"}
    assert spec_for(change.operation).plan(change.params, request_id=change.pk) == [
        HsmCall("update_key", "pay-diff", tags={"a": "1", "keywarden-class": "standard"})
    ]


def test_rotation_policy_diffs_actions_and_expiry(key, requester):
    # when
    change = submit(
        requester,
        "key.set_rotation_policy",
        params={
            "name": "pay-diff",
            "lifetime_actions": [
                {"action": "Rotate", "time_after_create": "P60D"},
                {"action": "Notify", "time_before_expiry": "P30D"},
            ],
            "expiry_time": "P1Y",
        },
    )
    # then
    rows = changes_of(change)
    assert [row.as_dict() for row in rows] == [
        {
            "field": "lifetime_actions",
            "label": "Lifetime actions",
            "current": [{"action": "Rotate", "time_after_create": "P90D"}],
            "requested": [
                {"action": "Rotate", "time_after_create": "P60D"},
                {"action": "Notify", "time_before_expiry": "P30D"},
            ],
            "changed": True,
        },
        {
            "field": "expiry_time",
            "label": "New versions expire after",
            "current": "P1Y",
            "requested": "P1Y",
            "changed": False,
        },
    ]
    assert (rows[0].current_text, rows[0].requested_text) == (
        "Rotate P90D after creation",
        "Rotate P60D after creation, Notify P30D before expiry",
    )


def test_bulk_rotation_policy_has_no_per_field_diff(key, requester, payments_team):
    ManagedKeyFactory(name="pay-diff-2", team=payments_team)
    change = submit(
        requester,
        "key.set_rotation_policy",
        params={"targets": ["pay-diff", "pay-diff-2"], **POLICY},
    )
    assert (change.current_values, changes_of(change)) == (None, [])


def test_adopt_diffs_managed_team_and_class(requester, payments_team):
    # given: a key the sync found, made outside Keywarden
    ManagedKeyFactory(name="pay-found", team=payments_team, last_applied=None)
    # when
    draft = draft_request(
        requester=requester,
        operation="key.adopt",
        team="payments",
        justification="ours",
        params={"name": "pay-found", "rotation_class": "active"},
    )
    # then
    assert [row.as_dict() for row in draft.changes] == [
        {
            "field": "managed",
            "label": "Managed by Keywarden",
            "current": False,
            "requested": True,
            "changed": True,
        },
        {
            "field": "team",
            "label": "Team",
            "current": "payments",
            "requested": "payments",
            "changed": False,
        },
        {
            "field": "rotation_class",
            "label": "Rotation class",
            "current": "standard",
            "requested": "active",
            "changed": True,
        },
    ]


def test_operations_on_no_existing_values_have_no_diff(requester, payments_team):
    change = submit(requester)  # key.create
    assert (change.current_values, changes_of(change)) == (None, [])


def test_key_changed_since_submission_is_flagged_but_the_captured_values_stay(
    key, requester, api_client_for, custodian
):
    # given
    change = submit(requester, "key.update", params={"name": "pay-diff", "enabled": False})
    assert changed_since_submission(change) == []
    # when: the inventory now shows other tags and expiry (a sync read an out-of-band change)
    ManagedKey.objects.filter(name="pay-diff").update(
        tags={"owner": "someone-else"}, expires_on=datetime(2028, 1, 1, tzinfo=UTC)
    )
    # then
    body = api_client_for(custodian).get(f"/api/v1/requests/{change.pk}/").json()
    assert body["changed_since"] == ["expires_on", "tags"]
    assert [(row["field"], row["current"]) for row in body["changes"] if row["changed"]] == [
        ("enabled", True)
    ]
    assert body["changes"][4]["current"] == UPDATE_CURRENT["tags"]


def test_no_changed_since_flag_once_the_request_ran(key, requester):
    change = submit(requester, "key.update", params={"name": "pay-diff", "enabled": False})
    ManagedKey.objects.filter(name="pay-diff").update(enabled=False)
    change.state = State.SUCCEEDED
    assert changed_since_submission(change) == []


def test_rotation_schedule_diffs_the_schedule_it_replaces(key, requester):
    # given: the key's schedule as an approved request left it
    RotationSchedule.objects.create(
        key=key,
        cadence="P90D",
        mode="standing",
        window_weekdays=[5],
        window_start_hour=22,
        window_hours=4,
        approved_by=uuid4(),
        approved_payload_hash="0" * 64,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        next_run_on=datetime(2026, 4, 1, tzinfo=UTC),
    )
    # when
    change = submit(
        requester,
        "key.set_rotation_schedule",
        params={"name": "pay-diff", "cadence": "P60D", "mode": "standing"},
    )
    # then
    rows = changes_of(change)
    assert [(r.field, r.current, r.requested, r.is_changed) for r in rows] == [
        ("cadence", "P90D", "P60D", True),
        ("mode", "standing", "standing", False),
        ("window", {"weekdays": [5], "start_hour_utc": 22, "hours": 4}, None, True),
        ("retire_previous_after", None, None, False),
    ]
    assert (rows[2].current_text, rows[2].requested_text) == ("Sat from 22:00 UTC for 4 h", "—")
