"""The role-assignment form (issue 17): readable help, a key picker limited to the team's keys
(checked again by the server), principals picked by name from the team's directory (or a raw
object id with a warning), and the name shown wherever the id appears."""

from __future__ import annotations

import pytest

from accounts.models import TeamPrincipal
from approvals.models import ChangeRequest
from keys.models import RoleAssignmentMirror
from tests.approvals.conftest import submit
from tests.web.conftest import csrf_post

CHECKOUT = "0c0c0c0c-0000-4000-8000-0000000000c1"
ASSIGN = {
    "team": "payments",
    "role": "Managed HSM Crypto User",
    "principal_type": "ServicePrincipal",
    "principal_id": CHECKOUT,
    "scope": "/keys/pay-rsa",
    "justification": "Checkout service signs with it.",
}


@pytest.fixture
def directory(payments_team, identity_team):
    TeamPrincipal.objects.create(
        team=payments_team,
        object_id=CHECKOUT,
        display_name="checkout-service",
        principal_type="ServicePrincipal",
    )
    TeamPrincipal.objects.create(
        team=identity_team,
        object_id="0d0d0d0d-0000-4000-8000-0000000000d1",
        display_name="idp-signer",
        principal_type="ServicePrincipal",
    )


def test_form_escapes_the_scope_help_and_offers_only_the_teams_keys_and_principals(
    client_for, requester, inventory, directory
):
    # when
    page = client_for(requester).get("/requests/new/role.assign/").content.decode()

    # then
    assert "One of your team&#x27;s keys: /keys/&lt;name&gt;." in page
    assert 'list="id_scope-options"' in page
    assert (
        '<datalist id="id_scope-options"><option value="/keys/pay-kek">pay-kek (payments)</option>'
        '<option value="/keys/pay-live">pay-live (payments)</option>'
        '<option value="/keys/pay-rsa">pay-rsa (payments)</option></datalist>'
    ) in page
    assert (
        f'<datalist id="id_principal_id-options"><option value="{CHECKOUT}">'
        "checkout-service · Service principal · payments</option></datalist>"
    ) in page
    assert "idn-key" not in page
    assert "idp-signer" not in page


def test_scope_outside_the_team_is_refused_saying_so(client_for, requester, inventory):
    # when
    response = csrf_post(
        client_for(requester), "/requests/new/role.assign/", {**ASSIGN, "scope": "/keys/idn-key"}
    )

    # then
    assert response.status_code == 400
    assert response.context["form"].errors["scope"] == [
        "/keys/idn-key is not one of team payments's keys: the team assigns roles only on its "
        "own keys (pay-*)."
    ]
    assert ChangeRequest.objects.exists() is False


def test_preview_names_a_listed_principal_and_warns_about_a_raw_id(
    client_for, requester, inventory, directory
):
    # given
    client = client_for(requester)
    raw = "0e0e0e0e-0000-4000-8000-0000000000e1"

    # when
    listed = csrf_post(client, "/requests/new/role.assign/", ASSIGN).content.decode()
    unlisted = csrf_post(
        client, "/requests/new/role.assign/", {**ASSIGN, "principal_id": raw}
    ).content.decode()

    # then
    assert f'<dd id="principal">checkout-service <code>{CHECKOUT}</code></dd>' in listed
    assert 'id="principal-warning"' not in listed
    assert (
        f'<p class="warning" role="note" id="principal-warning">{raw} is not in team payments'
    ) in unlisted
    assert f'<dd id="principal">not in the team\'s principal directory <code>{raw}</code>' in (
        unlisted
    )


def test_request_and_key_pages_show_the_principals_name(
    client_for, api_client_for, requester, custodian, inventory, directory
):
    # given: an assignment of the principal on pay-rsa, and a request naming it
    RoleAssignmentMirror.objects.create(
        name="9b9b9b9b-0000-4000-8000-0000000000aa",
        scope="/keys/pay-rsa",
        key=inventory["pay-rsa"],
        team=inventory["pay-rsa"].team,
        role_definition_id="x",
        role_name="Managed HSM Crypto User",
        principal_id=CHECKOUT,
        is_managed=True,
    )
    params = {key: value for key, value in ASSIGN.items() if key not in ("team", "justification")}
    change = submit(requester, "role.assign", params={**params, "scope": "/keys/pay-live"})
    client = client_for(custodian)

    # when
    request_page = client.get(f"/requests/{change.pk}/").content.decode()
    key_page = client.get("/keys/pay-rsa/").content.decode()
    key_api = api_client_for(custodian).get("/api/v1/keys/pay-rsa/").json()

    # then
    assert f'<dd id="principal">checkout-service <code>{CHECKOUT}</code></dd>' in request_page
    assert f'<span class="principal-name">checkout-service</span> <code>{CHECKOUT}</code>' in (
        key_page
    )
    assert [(a["principal_id"], a["principal_name"]) for a in key_api["role_assignments"]] == [
        (CHECKOUT, "checkout-service")
    ]
