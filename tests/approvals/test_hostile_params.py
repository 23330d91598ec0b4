"""Hostile params a fuzzer found: each is a clean 400 on its field, nothing written, no HSM
call — never a 500."""

import json

import pytest

from approvals.models import ChangeRequest
from audit.models import AuditEvent
from tests.approvals.test_validation import EC, POLICY, ROTATE, byok, import_params, with_

DEEP = 5_000


class Raw(str):
    """Params as JSON text: a document no `json.dumps` here could write (nested too deep)."""


def deep_release_policy() -> Raw:
    ec = json.dumps(with_(EC, exportable=True))[:-1]
    nested = "[" * DEEP + "]" * DEEP
    authority = json.dumps(POLICY["authority"])
    return Raw(f'{ec}, "release_policy": {{"authority": {authority}, "allOf": {nested}}}}}')


def body_of(operation: str, params) -> str:
    envelope = {"operation": operation, "team": "payments", "justification": "test"}
    text = params if isinstance(params, Raw) else json.dumps(params)
    return json.dumps(envelope)[:-1] + f', "params": {text}}}'


CASES = [
    (
        "impossible date",
        "key.create",
        with_(EC, expires_on="2027-02-30T00:00:00Z"),
        "params.expires_on",
    ),
    (
        "date past year 9999 in UTC",
        "key.create",
        with_(EC, not_before="9999-12-31T23:59:59-14:00"),
        "params.not_before",
    ),
    (
        "duration overflow",
        "key.create",
        with_(EC, rotation_policy={**ROTATE, "expiry_time": "P99999999999999999999D"}),
        "params.rotation_policy.expiry_time",
    ),
    (
        "non-ASCII digits in a duration",
        "key.create",
        with_(EC, rotation_policy={**ROTATE, "expiry_time": "P\uff19\uff10D"}),
        "params.rotation_policy.expiry_time",
    ),
    (
        "authority https://[",
        "key.create",
        with_(EC, exportable=True, release_policy={**POLICY, "authority": "https://["}),
        "params.release_policy",
    ),
    (
        "kid https://[",
        "key.import",
        import_params(byok={**byok(), "header": {**byok()["header"], "kid": "https://[/keys/k/1"}}),
        "params.byok",
    ),
    (
        "release policy nested thousands deep",
        "key.create",
        deep_release_policy(),
        "non_field_errors",
    ),
    (
        "a key size as a float",
        "key.create",
        {"name": "pay-new", "kty": "RSA-HSM", "size": 2048.0, "key_ops": ["sign"]},
        "params.size",
    ),
    (
        "a window hour as a float",
        "key.set_rotation_schedule",
        {
            "name": "pay-live",
            "cadence": "P30D",
            "mode": "standing",
            "window": {"weekdays": [1], "start_hour_utc": 2.0, "hours": 4},
        },
        "params.window.start_hour_utc",
    ),
    (
        "a weekday as true",
        "key.set_rotation_schedule",
        {
            "name": "pay-live",
            "cadence": "P30D",
            "mode": "standing",
            "window": {"weekdays": [True], "start_hour_utc": 2, "hours": 4},
        },
        "params.window.weekdays.0",
    ),
]


@pytest.mark.parametrize(("_case", "operation", "params", "field"), CASES)
def test_hostile_params_are_a_clean_400(
    _case, operation, params, field, inventory, requester, api_client_for, hsm_session
):
    # given
    events_before, hsm_seq = AuditEvent.objects.count(), hsm_session.process.latest_seq()
    # when
    response = api_client_for(requester).post(
        "/api/v1/requests/", body_of(operation, params), content_type="application/json"
    )
    # then
    assert response.status_code == 400, response.content[:500]
    errors = response.json()["errors"]
    assert any(name == field or name.startswith(f"{field}.") for name in errors), errors
    assert ChangeRequest.objects.count() == 0
    assert AuditEvent.objects.count() == events_before
    assert hsm_session.calls_since(hsm_seq) == []
