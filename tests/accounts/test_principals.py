"""A team's principal directory (issue 17): members of the team and admins register, rename
and remove principals, audited; whoever sees the team reads it, over the API and the page."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import TeamPrincipal
from accounts.services import remove_principal, save_principal
from audit.context import AuditContext
from audit.models import AuditEvent
from core.errors import Invalid, NotAllowed
from tests.accounts.test_services import events_since, head

pytestmark = pytest.mark.django_db
CHECKOUT = "0c0c0c0c-0000-4000-8000-0000000000c1"


def register(actor, team, **fields):
    values = {
        "object_id": CHECKOUT,
        "display_name": "checkout-service",
        "principal_type": "ServicePrincipal",
        "description": "The checkout app's managed identity",
        **fields,
    }
    return save_principal(team=team, actor=actor, ctx=AuditContext(actor=actor), **values)


def test_member_registers_renames_and_removes_a_principal_each_audited(requester, payments_team):
    # given
    start = head()

    # when
    register(requester, payments_team)
    register(requester, payments_team)  # the same again: nothing changes, nothing recorded
    register(requester, payments_team, display_name="checkout-prod")
    remove_principal(
        team=payments_team, actor=requester, object_id=CHECKOUT, ctx=AuditContext(actor=requester)
    )

    # then
    fields = {
        "principal_type": "ServicePrincipal",
        "description": "The checkout app's managed identity",
    }
    assert events_since(start) == [
        (
            "principal.registered",
            "checkout-service (0c0c0c0c-0000-4000-8000-0000000000c1)",
            "payments",
            None,
            {"object_id": CHECKOUT, "display_name": "checkout-service", **fields},
        ),
        (
            "principal.updated",
            "checkout-prod (0c0c0c0c-0000-4000-8000-0000000000c1)",
            "payments",
            {"display_name": "checkout-service"},
            {"display_name": "checkout-prod"},
        ),
        (
            "principal.removed",
            "checkout-prod (0c0c0c0c-0000-4000-8000-0000000000c1)",
            "payments",
            {"object_id": CHECKOUT, "display_name": "checkout-prod", **fields},
            None,
        ),
    ]
    assert TeamPrincipal.objects.exists() is False


@pytest.mark.parametrize(
    ("_case", "who", "reason"),
    [
        ("another team's member", "other_requester", "Only members of team payments and admins"),
        ("a custodian", "custodian", "Only members of team payments and admins"),
        ("an auditor", "auditor", "Only members of team payments and admins"),
    ],
)
def test_only_members_and_admins_change_the_directory(_case, who, reason, request, payments_team):
    # given
    actor = request.getfixturevalue(who)
    events_before = AuditEvent.objects.count()

    # when
    with pytest.raises(NotAllowed) as refused:
        register(actor, payments_team)

    # then
    assert refused.value.message == (
        "Only members of team payments and admins change its principal directory."
    )
    assert TeamPrincipal.objects.exists() is False
    assert AuditEvent.objects.count() == events_before


def test_admin_changes_any_teams_directory(admin_user, payments_team):
    principal = register(admin_user, payments_team)

    assert (principal.team.slug, principal.display_name) == ("payments", "checkout-service")


def test_bad_fields_are_refused_with_field_errors(requester, payments_team):
    with pytest.raises(Invalid) as refused:
        register(requester, payments_team, display_name="  ", principal_type="Robot")

    assert refused.value.errors == {
        "display_name": ["This field cannot be blank."],
        "principal_type": ["Value 'Robot' is not a valid choice."],
    }
    assert TeamPrincipal.objects.exists() is False


def test_api_lists_registers_updates_and_removes(api_client_for, requester, payments_team):
    # given
    client = api_client_for(requester)
    url = "/api/v1/teams/payments/principals/"
    body = {"object_id": CHECKOUT, "display_name": "checkout", "principal_type": "ServicePrincipal"}

    # when
    created = client.post(url, body, format="json")
    updated = client.post(url, {**body, "display_name": "checkout-prod"}, format="json")
    listed = client.get(url).json()
    removed = client.delete(f"{url}{CHECKOUT}/")
    again = client.delete(f"{url}{CHECKOUT}/")

    # then
    assert (created.status_code, updated.status_code) == (201, 200)
    assert [(p["object_id"], p["display_name"]) for p in listed] == [(CHECKOUT, "checkout-prod")]
    assert (removed.status_code, again.status_code) == (204, 404)
    assert again.json()["detail"] == (f"No principal {CHECKOUT} in the directory of team payments.")


def test_api_hides_other_teams_and_refuses_readers(
    api_client_for, other_requester, auditor, payments_team
):
    # given
    url = "/api/v1/teams/payments/principals/"
    body = {"object_id": CHECKOUT, "display_name": "checkout", "principal_type": "ServicePrincipal"}

    # when
    hidden = api_client_for(other_requester).get(url)
    read = api_client_for(auditor).get(url)
    refused = api_client_for(auditor).post(url, body, format="json")
    malformed = api_client_for(auditor).post(url, {**body, "object_id": "checkout"}, format="json")

    # then
    assert hidden.status_code == 404
    assert (read.status_code, read.json()) == (200, [])
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        "Only members of team payments and admins change its principal directory."
    )
    assert malformed.status_code == 400
    assert TeamPrincipal.objects.exists() is False


def test_page_registers_and_removes(requester, payments_team):
    # given
    client = Client()
    client.force_login(requester)
    body = {"object_id": CHECKOUT, "display_name": "checkout", "principal_type": "ServicePrincipal"}

    # when
    saved = client.post("/teams/payments/principals/", body)
    page = client.get("/teams/payments/principals/").content.decode()
    bad = client.post("/teams/payments/principals/", {**body, "object_id": "nope"})
    removed = client.post(f"/teams/payments/principals/{CHECKOUT}/remove/")

    # then
    assert (saved.status_code, saved["Location"]) == (302, "/teams/payments/principals/")
    assert f'<tr id="principal-{CHECKOUT}">' in page
    assert "<td>checkout</td>" in page
    assert bad.status_code == 400
    assert "Enter a valid UUID." in bad.content.decode()
    assert removed.status_code == 302
    assert TeamPrincipal.objects.exists() is False
