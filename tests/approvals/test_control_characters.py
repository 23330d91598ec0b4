"""A trailing newline or a NUL never passes as part of an identifier: key names, principal
ids, durations, scopes and version ids are matched in full (core.identifiers). Each is a 400 on
its field with nothing written and no HSM call."""

import pytest

from approvals.models import ChangeRequest
from audit.models import AuditEvent
from tests.approvals.test_validation import EC, ROTATE, assign_params, with_

PRINCIPAL = "0b0b0b0b-0000-4000-8000-000000000001"
SUFFIXES = [("newline", "\n"), ("NUL", "\x00"), ("carriage return", "\r")]
FIELDS = [
    ("create: key name", "key.create", lambda s: with_(EC, name="pay-orders" + s), "params.name"),
    ("rotate: key name", "key.rotate", lambda s: {"name": "pay-live" + s}, "params.name"),
    (
        "bulk rotation policy: a target",
        "key.set_rotation_policy",
        lambda s: {"targets": ["pay-live", "pay-rsa" + s], **ROTATE},
        "params.targets.1",
    ),
    (
        "assign: principal id",
        "role.assign",
        lambda s: assign_params(principal_id=PRINCIPAL + s),
        "params.principal_id",
    ),
    (
        "assign: scope",
        "role.assign",
        lambda s: assign_params(scope="/keys/pay-rsa" + s),
        "params.scope",
    ),
    (
        "revoke: assignment id",
        "role.revoke",
        lambda s: {"assignment": "9b9b9b9b-0000-4000-8000-000000000001" + s},
        "params.assignment",
    ),
    (
        "policy: duration",
        "key.set_rotation_policy",
        lambda s: {"name": "pay-live", **ROTATE, "expiry_time": "P1Y" + s},
        "params.expiry_time",
    ),
    (
        "create: rotation duration",
        "key.create",
        lambda s: with_(
            EC,
            rotation_policy={
                **ROTATE,
                "lifetime_actions": [{"action": "Rotate", "time_after_create": "P90D" + s}],
            },
        ),
        "params.rotation_policy.lifetime_actions.0.time_after_create",
    ),
    (
        "disable version: version id",
        "key.disable_version",
        lambda s: {"name": "pay-live", "version": "0123456789abcdef" + s},
        "params.version",
    ),
]
CASES = [
    (f"{label}, {suffix_name}", operation, make(suffix), field)
    for label, operation, make, field in FIELDS
    for suffix_name, suffix in SUFFIXES
]


@pytest.mark.parametrize(
    ("_case", "operation", "params", "field"), CASES, ids=[case[0] for case in CASES]
)
def test_a_control_character_in_an_identifier_is_refused(
    _case, operation, params, field, inventory, requester, api_client_for, hsm_session
):
    # given
    events_before, hsm_seq = AuditEvent.objects.count(), hsm_session.process.latest_seq()
    # when
    response = api_client_for(requester).post(
        "/api/v1/requests/",
        {"operation": operation, "team": "payments", "justification": "test", "params": params},
        format="json",
    )
    # then
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert ChangeRequest.objects.count() == 0
    assert AuditEvent.objects.count() == events_before
    assert hsm_session.calls_since(hsm_seq) == []
