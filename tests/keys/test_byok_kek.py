"""Key-exchange keys: a key.create marked `is_kek` must be RSA-HSM 3072/4096 with exactly the
import operation; an import-only key must be marked. Refusals name the rule and leave no trace;
the inventory flags a KEK from what the HSM shows (its type and operations)."""

import pytest

from approvals.models import ChangeRequest
from audit.models import AuditEvent
from keys.gateway import KeyInfo
from keys.models import ManagedKey
from keys.services.mirror import observe_live_key

KEK = {"name": "pay-kek-2", "kty": "RSA-HSM", "size": 4096, "key_ops": ["import"], "is_kek": True}


def post(client, params):
    return client.post(
        "/api/v1/requests/",
        {"operation": "key.create", "team": "payments", "justification": "BYOK", "params": params},
        format="json",
    )


@pytest.mark.parametrize(
    ("_case", "changes", "errors"),
    [
        (
            "2048 bits",
            {"size": 2048},
            {"params.size": ["A key-exchange key is 3072 or 4096 bits."]},
        ),
        (
            "EC",
            {"kty": "EC-HSM", "size": None, "curve": "P-256"},
            {
                "params.kty": ["A key-exchange key is RSA-HSM (3072 or 4096 bits)."],
                "params.key_ops": ["import not allowed for EC-HSM; allowed: sign, verify."],
            },
        ),
        (
            "signs too",
            {"key_ops": ["sign"]},
            {"params.key_ops": ["A key-exchange key has exactly the import operation."]},
        ),
        (
            "import-only, not marked",
            {"is_kek": None},
            {
                "params.is_kek": [
                    "A key whose only operation is import is a key-exchange key: mark it as one."
                ]
            },
        ),
        (
            "marked as text",
            {"is_kek": "true"},
            {"params.is_kek": ["Must be true or false."]},
        ),
    ],
)
def test_a_key_exchange_key_request_that_breaks_a_rule_is_refused_with_the_rule(
    _case, changes, errors, requester, payments_team, api_client_for
):
    # given
    params = {k: v for k, v in {**KEK, **changes}.items() if v is not None}
    events_before = AuditEvent.objects.count()
    # when
    response = post(api_client_for(requester), params)
    # then
    assert (response.status_code, response.json()["errors"]) == (400, errors)
    assert ChangeRequest.objects.exists() is False
    assert AuditEvent.objects.count() == events_before


def test_a_key_exchange_key_request_is_accepted_and_keeps_the_mark(
    requester, payments_team, api_client_for
):
    response = post(api_client_for(requester), KEK)

    assert response.status_code == 201, response.json()
    assert ChangeRequest.objects.get().params == {**KEK, "exportable": False}


@pytest.mark.parametrize(
    ("_case", "kty", "key_ops", "is_kek"),
    [
        ("import only", "RSA-HSM", ("import",), True),
        ("signing RSA", "RSA-HSM", ("sign", "verify"), False),
        ("import and more (out of band)", "RSA-HSM", ("import", "sign"), False),
    ],
)
def test_the_inventory_flags_a_key_exchange_key_from_what_the_hsm_shows(
    _case, kty, key_ops, is_kek
):
    row = ManagedKey(name="pay-k")
    key = KeyInfo(
        name="pay-k", version="v1", kid="https://hsm/keys/pay-k/v1", kty=kty, key_size=3072,
        curve=None, key_ops=key_ops, enabled=True, exportable=False, created_on=None,
        updated_on=None, not_before=None, expires_on=None, tags={},
    )  # fmt: skip

    observe_live_key(row, team=None, listing=key, key=key)

    assert row.is_kek is is_kek
