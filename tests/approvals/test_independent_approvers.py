"""Policies may require independent approvers: a custodian who is a member of the requesting
team may not approve its requests (on by default for purges and role changes). The API, the
page and the approval queue all follow approvals.permissions.can_decide."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from approvals.models import Approval
from approvals.selectors import approval_queue_for
from approvals.services import policy_for, update_policy
from audit.context import AuditContext
from audit.models import AuditEvent
from tests.approvals.conftest import submit
from tests.approvals.test_validation import assign_params
from tests.factories import UserFactory

RULE = (
    "The role.assign policy requires independent approvers: a member of the requesting team "
    "may not decide on its requests."
)


@pytest.fixture
def team_custodian(payments_team):
    """A custodian who is also a member of the payments team."""
    return UserFactory(
        username="erin", access={"roles": [Role.CUSTODIAN], "teams": [payments_team]}
    )


@pytest.fixture
def assign_request(inventory, requester):
    return submit(requester, operation="role.assign", params=assign_params())


def set_independence(admin_user, operation, value):
    update_policy(
        operation=operation,
        admin=admin_user,
        ctx=AuditContext(actor=admin_user),
        require_independent_approvers=value,
    )


@pytest.mark.parametrize(
    ("_case", "operation", "expected"),
    [
        ("purge", "key.purge", True),
        ("role assign", "role.assign", True),
        ("role revoke", "role.revoke", True),
        ("rotate", "key.rotate", False),
        ("create", "key.create", False),
    ],
)
def test_independent_approvers_are_on_by_default_for_purges_and_role_changes(
    _case, operation, expected, db
):
    assert policy_for(operation).require_independent_approvers is expected


def test_a_custodian_of_the_requesting_team_is_refused_naming_the_rule(
    assign_request, team_custodian, api_client_for
):
    # given
    events_before = AuditEvent.objects.count()
    # when
    response = api_client_for(team_custodian).post(
        f"/api/v1/requests/{assign_request.pk}/approve/", {"comment": "mine"}, format="json"
    )
    # then
    assert response.status_code == 403
    assert response.json()["detail"] == RULE
    assert Approval.objects.filter(request=assign_request).exists() is False
    assert AuditEvent.objects.count() == events_before


def test_the_page_refuses_a_custodian_of_the_requesting_team(
    assign_request, team_custodian, client
):
    # given
    client.force_login(team_custodian)
    events_before = AuditEvent.objects.count()
    # when
    response = client.post(f"/requests/{assign_request.pk}/approve/", {"comment": "x"})
    # then
    assert response.status_code == 403
    assert RULE in response.content.decode()
    assert Approval.objects.filter(request=assign_request).exists() is False
    assert AuditEvent.objects.count() == events_before


def test_a_custodian_of_the_requesting_team_may_approve_when_the_policy_allows_it(
    inventory, requester, admin_user, team_custodian, api_client_for
):
    # given
    set_independence(admin_user, "role.assign", False)
    change = submit(requester, operation="role.assign", params=assign_params())
    # when
    response = api_client_for(team_custodian).post(
        f"/api/v1/requests/{change.pk}/approve/", {"comment": "ok"}, format="json"
    )
    # then
    assert response.status_code == 200, response.json()
    assert list(change.approvals.values_list("approver__username", flat=True)) == ["erin"]


def test_an_independent_custodian_may_approve(assign_request, custodian, api_client_for):
    response = api_client_for(custodian).post(
        f"/api/v1/requests/{assign_request.pk}/approve/", {"comment": "ok"}, format="json"
    )
    assert response.status_code == 200
    assert list(assign_request.approvals.values_list("approver__username", flat=True)) == ["carol"]


def test_the_queue_offers_the_request_only_to_independent_custodians(
    assign_request, team_custodian, custodian, api_client_for
):
    # given
    now = timezone.now()
    # when
    offered_to_member = list(approval_queue_for(team_custodian, now=now))
    offered_to_other = list(approval_queue_for(custodian, now=now))
    detail = api_client_for(team_custodian).get(f"/api/v1/requests/{assign_request.pk}/").json()
    # then
    assert offered_to_member == []
    assert offered_to_other == [assign_request]
    assert "approve" not in detail["allowed_actions"]


def test_a_policy_change_applies_to_requests_submitted_afterwards(
    assign_request, admin_user, team_custodian, api_client_for
):
    # given: the policy is relaxed after the request was submitted
    set_independence(admin_user, "role.assign", False)
    # when
    response = api_client_for(team_custodian).post(
        f"/api/v1/requests/{assign_request.pk}/approve/", {"comment": "x"}, format="json"
    )
    # then
    assert response.status_code == 403
    assert Approval.objects.filter(request=assign_request).exists() is False


def test_the_api_edits_independence_and_the_edit_is_audited(admin_user, api_client_for):
    # when
    response = api_client_for(admin_user).patch(
        "/api/v1/policies/key.purge/", {"require_independent_approvers": False}, format="json"
    )
    # then
    event = AuditEvent.objects.get(action="policy.updated")
    assert response.status_code == 200
    assert response.json()["require_independent_approvers"] is False
    assert event.before["require_independent_approvers"] is True
    assert event.after["require_independent_approvers"] is False
    listed = {p["operation"]: p for p in api_client_for(admin_user).get("/api/v1/policies/").json()}
    assert listed["key.purge"]["require_independent_approvers"] is False
    assert listed["role.revoke"]["require_independent_approvers"] is True


def test_the_api_refuses_independence_that_is_not_a_boolean(admin_user, api_client_for):
    response = api_client_for(admin_user).patch(
        "/api/v1/policies/key.purge/", {"require_independent_approvers": "no"}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["require_independent_approvers"]
    assert AuditEvent.objects.filter(action="policy.updated").exists() is False


def test_the_policy_page_shows_and_edits_independence(client, admin_user):
    # given
    client.force_login(admin_user)
    listing = client.get("/policies/").content.decode()
    form = client.get("/policies/key.rotate/").content.decode()
    # when
    response = client.post(
        "/policies/key.rotate/",
        {"approvals_required": "2", "max_wait_hours": "48", "require_independent_approvers": "on"},
    )
    # then
    event = AuditEvent.objects.get(action="policy.updated")
    assert "Independent approvers" in listing
    assert 'name="require_independent_approvers"' in form
    assert response.status_code == 302
    assert policy_for("key.rotate").require_independent_approvers is True
    assert policy_for("key.rotate").max_wait == timedelta(hours=48)
    assert (
        event.before["require_independent_approvers"],
        event.after["require_independent_approvers"],
    ) == (False, True)
