"""Key names are case-insensitive, as in Managed HSM: pay-LIVE is pay-live in the inventory,
in validation, in the one-open-request rule and on the key page; requests name the key as the
inventory spells it."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from approvals.models import ChangeRequest
from audit.context import AuditContext
from audit.models import AuditEvent
from keys.models import KeyState, ManagedKey
from keys.services.inventory import record_key_applied
from keys.services.sync import sync_inventory
from tests.approvals.conftest import submit
from tests.approvals.test_validation import EC, ROTATE, with_
from tests.factories import ManagedKeyFactory


@pytest.mark.parametrize(
    ("_case", "name", "message"),
    [
        ("live key", "pay-LIVE", "A key named pay-live exists (key names are case-insensitive)."),
        (
            "deleted but recoverable key",
            "pay-DELETED",
            "A key named pay-deleted is deleted but recoverable (key names are case-insensitive).",
        ),
    ],
)
def test_create_is_refused_when_the_name_exists_in_another_case(
    _case, name, message, inventory, requester, api_client_for, hsm_session
):
    # given
    events_before, hsm_seq = AuditEvent.objects.count(), hsm_session.process.latest_seq()
    # when
    response = api_client_for(requester).post(
        "/api/v1/requests/",
        {
            "operation": "key.create",
            "team": "payments",
            "justification": "test",
            "params": with_(EC, name=name),
        },
        format="json",
    )
    # then
    assert response.status_code == 400, response.json()
    assert response.json()["errors"]["params.name"] == [message]
    assert ChangeRequest.objects.count() == 0
    assert AuditEvent.objects.count() == events_before
    assert hsm_session.calls_since(hsm_seq) == []


@pytest.mark.parametrize(
    ("_case", "operation", "params", "expected"),
    [
        ("rotate", "key.rotate", {"name": "pay-LIVE"}, {"name": "pay-live"}),
        (
            "bulk rotation policy",
            "key.set_rotation_policy",
            {"targets": ["pay-LIVE", "pay-Rsa"], **ROTATE},
            {"targets": ["pay-live", "pay-rsa"]},
        ),
        (
            "assign",
            "role.assign",
            {
                "role": "Managed HSM Crypto User",
                "principal_type": "ServicePrincipal",
                "principal_id": "0b0b0b0b-0000-4000-8000-000000000001",
                "scope": "/keys/pay-RSA",
            },
            {"scope": "/keys/pay-rsa"},
        ),
    ],
)
def test_a_request_on_another_case_names_the_key_as_the_inventory_does(
    _case, operation, params, expected, inventory, requester
):
    # when
    change = submit(requester, operation=operation, params=params)
    # then
    assert {name: change.params[name] for name in expected} == expected
    assert change.key_name == change.params.get("name", change.key_name)
    assert change.key_name.lower() == change.key_name


def test_bulk_targets_repeating_in_another_case_are_refused(inventory, requester, api_client_for):
    response = api_client_for(requester).post(
        "/api/v1/requests/",
        {
            "operation": "key.set_rotation_policy",
            "team": "payments",
            "justification": "test",
            "params": {"targets": ["pay-live", "PAY-LIVE"], **ROTATE},
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"]["params.targets"] == ["Keys must not repeat."]
    assert ChangeRequest.objects.count() == 0


def test_a_second_open_create_in_another_case_conflicts(inventory, requester, api_client_for):
    # given
    submit(requester, params=with_(EC, name="pay-orders"))
    # when
    response = api_client_for(requester).post(
        "/api/v1/requests/",
        {
            "operation": "key.create",
            "team": "payments",
            "justification": "test",
            "params": with_(EC, name="pay-ORDERS"),
        },
        format="json",
    )
    # then
    assert response.status_code == 409
    assert "pay-orders" in response.json()["detail"]
    assert list(ChangeRequest.objects.values_list("key_name", flat=True)) == ["pay-orders"]


def test_the_database_holds_one_open_request_per_key_in_any_case(requester):
    # given
    first = submit(requester, params=with_(EC, name="pay-orders"))
    fields = {
        f.name: getattr(first, f.name)
        for f in ChangeRequest._meta.concrete_fields
        if f.name != "id"
    }
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        ChangeRequest.objects.create(**{**fields, "key_name": "PAY-ORDERS"})


def test_the_inventory_holds_one_row_per_name_in_any_case(payments_team):
    # given
    ManagedKeyFactory(name="pay-orders", team=payments_team)
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        ManagedKeyFactory(name="PAY-ORDERS", team=payments_team)


@pytest.mark.parametrize(
    ("_case", "url"), [("API", "/api/v1/keys/PAY-Live/"), ("page", "/keys/PAY-Live/")]
)
def test_the_key_is_found_in_any_case(_case, url, inventory, requester, api_client_for, client):
    # given
    client.force_login(requester)
    # when
    response = api_client_for(requester).get(url) if _case == "API" else client.get(url)
    # then
    assert response.status_code == 200
    assert b"pay-live" in response.content


def test_a_purged_key_made_again_in_another_case_takes_the_new_spelling(hsm, payments_team):
    # given: pay-orders purged, then Pay-Orders made in the HSM
    old = ManagedKeyFactory(name="pay-orders", team=payments_team, state=KeyState.PURGED)
    key = hsm.keywarden.create_key("Pay-Orders", kty="EC-HSM", curve="P-256")
    # when
    record_key_applied(key=key, now=timezone.now())
    sync_inventory(ctx=AuditContext.system("test"))
    # then
    row = ManagedKey.objects.get()
    assert (row.pk, row.name, row.state) == (old.pk, "Pay-Orders", KeyState.ACTIVE)


def test_the_sync_renames_a_row_to_the_hsm_spelling(hsm, payments_team):
    # given: a purged row, and the key made again in another case outside Keywarden
    old = ManagedKeyFactory(name="pay-again", team=payments_team, state=KeyState.PURGED)
    hsm.operator.create_key("PAY-again", kty="EC-HSM", curve="P-256", key_ops=["sign"])
    # when
    run = sync_inventory(ctx=AuditContext.system("test"))
    # then
    row = ManagedKey.objects.get()
    assert run.status == "succeeded"
    assert (row.pk, row.name, row.state) == (old.pk, "PAY-again", KeyState.ACTIVE)
