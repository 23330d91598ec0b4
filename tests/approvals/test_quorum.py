"""Quorum reachability (issue 17): a policy may not need more approvals than the active
custodians can give, and a pending request that can never reach quorum says so."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils.html import escape

from accounts.models import Membership
from approvals.models import ApprovalPolicy
from approvals.selectors import quorum_warning
from approvals.services import update_policy
from audit.context import AuditContext
from audit.models import AuditEvent
from core.errors import Invalid
from tests.approvals.conftest import approve, submit

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


TWO_CUSTODIANS = (
    "Needs 3 approvals but only 2 custodians exist: no request could ever be approved. Add "
    "custodians first or lower the number. (The requester cannot approve their own request, "
    "so a custodian's request can count on one custodian fewer.)"
)


def test_policy_needing_more_approvals_than_custodians_is_refused(
    admin_user, custodian, second_custodian
):
    # given
    events_before = AuditEvent.objects.count()

    # when
    with pytest.raises(Invalid) as refused:
        update_policy(
            operation="key.rotate",
            admin=admin_user,
            approvals_required=3,
            ctx=AuditContext(actor=admin_user),
        )

    # then
    assert refused.value.errors == {"approvals_required": [TWO_CUSTODIANS]}
    assert ApprovalPolicy.objects.filter(operation="key.rotate").exists() is False
    assert AuditEvent.objects.count() == events_before


def test_inactive_custodians_do_not_count_towards_a_quorum(
    api_client_for, admin_user, custodian, second_custodian, third_custodian
):
    # given
    third_custodian.is_active = False
    third_custodian.save(update_fields=["is_active"])

    # when
    response = api_client_for(admin_user).patch(
        "/api/v1/policies/key.rotate/", {"approvals_required": 3}, format="json"
    )

    # then
    assert response.status_code == 400
    assert response.json()["errors"] == {"approvals_required": [TWO_CUSTODIANS]}
    assert ApprovalPolicy.objects.filter(operation="key.rotate").exists() is False


def test_policy_the_custodians_can_reach_is_saved(
    api_client_for, admin_user, custodian, second_custodian, third_custodian
):
    response = api_client_for(admin_user).patch(
        "/api/v1/policies/key.rotate/", {"approvals_required": 3}, format="json"
    )

    assert response.status_code == 200
    assert ApprovalPolicy.objects.get(operation="key.rotate").approvals_required == 3


def test_pending_request_says_it_can_never_reach_quorum(
    requester, payments_team, custodian, second_custodian, api_client_for
):
    # given: dual approval, and one of the two custodians asked (a member of the team)
    Membership.objects.create(user=custodian, team=payments_team)
    change = submit(custodian)
    expected = (
        "This request can never reach quorum: it needs 2 more approvals but only 1 custodian "
        "can still approve (the requester cannot approve their own request). Cancel it, or ask "
        "an admin to add custodians or lower the policy."
    )

    # when
    detail = api_client_for(requester).get(f"/api/v1/requests/{change.pk}/").json()
    page = signed_in(second_custodian).get(f"/requests/{change.pk}/").content.decode()
    queue = signed_in(second_custodian).get("/approvals/").content.decode()

    # then
    assert detail["quorum_warning"] == expected
    assert f'<p class="error" role="alert" id="quorum-warning">{escape(expected)}</p>' in page
    assert f'title="{escape(expected)}">can never reach quorum</span>' in queue


def test_votes_cast_and_independence_count_against_the_quorum(
    inventory, requester, payments_team, custodian, second_custodian, third_custodian
):
    # given: a purge (three approvals, independent approvers), one approval in, and grace a
    # member of payments
    Membership.objects.create(user=third_custodian, team=payments_team)
    change = approve(submit(requester, "key.purge", params={"name": "pay-deleted"}), custodian)

    # when
    warning = quorum_warning(change)

    # then: dave is the only one left, and two approvals are missing
    assert warning == (
        "This request can never reach quorum: it needs 2 more approvals but only 1 custodian "
        "can still approve (the requester cannot approve their own request, and members of "
        "team payments may not approve its requests). Cancel it, or ask an admin to add "
        "custodians or lower the policy."
    )


def test_request_the_custodians_can_still_approve_has_no_warning(
    pending_request, api_client_for, custodian, second_custodian
):
    detail = api_client_for(custodian).get(f"/api/v1/requests/{pending_request.pk}/").json()

    assert detail["quorum_warning"] is None
    assert quorum_warning(pending_request) == ""


def test_policy_page_refuses_the_number_and_warns_about_the_stored_one(
    admin_user, custodian, second_custodian
):
    # given: the seeded purge policy needs three
    client = signed_in(admin_user)

    # when
    page = client.get("/policies/key.purge/").content.decode()
    refused = client.post(
        "/policies/key.rotate/", {"approvals_required": "3", "max_wait_hours": "48"}
    )

    # then
    assert f'id="quorum-problem">As it stands: {escape(TWO_CUSTODIANS)}</p>' in page
    assert "Active custodians now: <strong>2</strong>." in page
    assert refused.status_code == 400
    assert escape(TWO_CUSTODIANS) in refused.content.decode()
    assert ApprovalPolicy.objects.exists() is False
