"""The key inventory read API: team scoping for every role, filters, search, detail."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from keys.models import KeyVersion, RoleAssignmentMirror
from tests.factories import ManagedKeyFactory


@pytest.fixture
def inventory(payments_team, identity_team):
    now = timezone.now()
    keys = {
        "pay-orders": ManagedKeyFactory(
            name="pay-orders", team=payments_team, kty="RSA-HSM", key_size=3072, curve=""
        ),
        "pay-old": ManagedKeyFactory(
            name="pay-old",
            team=payments_team,
            enabled=False,
            compliance_state="overdue",
            compliance_due_on=now - timedelta(days=1),
        ),
        "pay-gone": ManagedKeyFactory(name="pay-gone", team=payments_team, state="deleted"),
        "idn-tokens": ManagedKeyFactory(
            name="idn-tokens",
            team=identity_team,
            has_drift=True,
            drift_reasons=["tags changed outside Keywarden."],
        ),
        "legacy": ManagedKeyFactory(name="legacy", team=None, last_applied=None, has_drift=True),
    }
    KeyVersion.objects.create(key=keys["pay-orders"], version="v1", created_on=now)
    RoleAssignmentMirror.objects.create(
        name="a1",
        scope="/keys/pay-orders",
        key=keys["pay-orders"],
        team=payments_team,
        role_definition_id="x/21dbd100-6940-42c2-9190-5d6cb909625b",
        role_name="Managed HSM Crypto User",
        principal_id="p1",
        is_managed=True,
    )
    return keys


def names(response):
    return [key["name"] for key in response.json()["results"]]


@pytest.mark.parametrize(
    ("_case", "role", "expected"),
    [
        ("requester sees own team", Role.REQUESTER, ["pay-gone", "pay-old", "pay-orders"]),
        (
            "custodian sees all",
            Role.CUSTODIAN,
            ["idn-tokens", "legacy", "pay-gone", "pay-old", "pay-orders"],
        ),
        (
            "admin sees all",
            Role.ADMIN,
            ["idn-tokens", "legacy", "pay-gone", "pay-old", "pay-orders"],
        ),
        (
            "auditor sees all",
            Role.AUDITOR,
            ["idn-tokens", "legacy", "pay-gone", "pay-old", "pay-orders"],
        ),
        ("outsider sees none", "outsider", []),
    ],
)
def test_key_list_is_scoped_per_role(
    _case, role, expected, inventory, user_for_role, api_client_for
):
    response = api_client_for(user_for_role(role)).get("/api/v1/keys/")
    assert response.status_code == 200
    assert names(response) == expected


def test_key_list_refuses_anonymous(inventory, anonymous_client):
    assert anonymous_client.get("/api/v1/keys/").status_code == 401


@pytest.mark.parametrize(
    ("_case", "query", "expected"),
    [
        ("team", {"team": "identity"}, ["idn-tokens"]),
        ("key type", {"kty": "rsa-hsm"}, ["pay-orders"]),
        ("disabled", {"enabled": "false"}, ["pay-old"]),
        ("deleted", {"deleted": "true"}, ["pay-gone"]),
        ("drift", {"drift": "true"}, ["idn-tokens", "legacy"]),
        ("unmanaged", {"managed": "false"}, ["legacy"]),
        ("overdue", {"compliance": "overdue"}, ["pay-old"]),
        ("search", {"search": "ord"}, ["pay-orders"]),
        (
            "ordering",
            {"ordering": "-name", "team": "payments"},
            ["pay-orders", "pay-old", "pay-gone"],
        ),
    ],
)
def test_key_list_filters(_case, query, expected, inventory, custodian, api_client_for):
    response = api_client_for(custodian).get("/api/v1/keys/", query)
    assert names(response) == expected


def test_key_detail_shows_versions_policy_and_assignments(inventory, requester, api_client_for):
    response = api_client_for(requester).get("/api/v1/keys/pay-orders/")
    body = response.json()
    assert response.status_code == 200
    assert (body["kty"], body["key_size"], body["team"]) == ("RSA-HSM", 3072, "payments")
    assert [v["version"] for v in body["versions"]] == ["v1"]
    assert [(a["role_name"], a["principal_id"]) for a in body["role_assignments"]] == [
        ("Managed HSM Crypto User", "p1")
    ]
    assert "rotation_policy" in body


@pytest.mark.parametrize(
    ("_case", "role", "name", "status"),
    [
        ("other team's key", Role.REQUESTER, "idn-tokens", 404),
        ("key without a team", Role.REQUESTER, "legacy", 404),
        ("missing key", Role.CUSTODIAN, "pay-nothing", 404),
        ("auditor reads any", Role.AUDITOR, "idn-tokens", 200),
        ("outsider", "outsider", "pay-orders", 404),
    ],
)
def test_key_detail_scoping(_case, role, name, status, inventory, user_for_role, api_client_for):
    response = api_client_for(user_for_role(role)).get(f"/api/v1/keys/{name}/")
    assert response.status_code == status
