"""The admin's approval-policy page: edits go through update_policy; others are refused."""

from __future__ import annotations

import pytest

from approvals.models import ApprovalPolicy
from audit.models import AuditEvent
from tests.web.conftest import csrf_post


def test_admin_edits_a_policy(client_for, admin_user, custodian, second_custodian, third_custodian):
    # given
    client = client_for(admin_user)

    # when
    response = csrf_post(
        client, "/policies/key.rotate/", {"approvals_required": "3", "max_wait_hours": "48"}
    )

    # then
    policy = ApprovalPolicy.objects.get(operation="key.rotate")
    assert response.status_code == 302
    assert response["Location"] == "/policies/"
    assert (policy.approvals_required, policy.max_wait.total_seconds()) == (3, 48 * 3600)
    assert AuditEvent.objects.filter(action="policy.updated").count() == 1


@pytest.mark.parametrize(
    ("_case", "data", "field", "message"),
    [
        (
            "one approval",
            {"approvals_required": "1", "max_wait_hours": "48"},
            "approvals_required",
            "Between 2 and 5: dual approval is the minimum.",
        ),
        (
            "too long a wait",
            {"approvals_required": "2", "max_wait_hours": "5000"},
            "max_wait_hours",
            "Between one hour and 90 days.",
        ),
        (
            "not a number",
            {"approvals_required": "two", "max_wait_hours": "48"},
            "approvals_required",
            "Enter a whole number.",
        ),
    ],
)
def test_policy_edit_shows_the_services_errors_and_saves_nothing(
    _case, data, field, message, client_for, admin_user
):
    # given
    client = client_for(admin_user)

    # when
    response = csrf_post(client, "/policies/key.rotate/", data)

    # then
    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert ApprovalPolicy.objects.exists() is False
    assert AuditEvent.objects.filter(action="policy.updated").exists() is False


@pytest.mark.parametrize(
    ("_case", "role"),
    [("custodian", "custodian"), ("requester", "requester"), ("auditor", "auditor")],
)
def test_only_admins_edit_policies(_case, role, user_for_role, client_for, payments_team):
    # given
    client = client_for(user_for_role(role))

    # when
    response = csrf_post(
        client, "/policies/key.rotate/", {"approvals_required": "2", "max_wait_hours": "1"}
    )

    # then
    assert response.status_code == 403
    assert ApprovalPolicy.objects.exists() is False
    assert AuditEvent.objects.filter(action="policy.updated").exists() is False
