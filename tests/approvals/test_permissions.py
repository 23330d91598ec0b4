"""The predicates say which rule was broken; rules about the request's state are conflicts
(409), the others refusals of who asks (403)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services import set_user_access
from approvals.models import ChangeRequest, State
from approvals.notifications import deciders_of
from approvals.permissions import (
    allowed_actions,
    can_cancel,
    can_decide,
    can_download_backup,
    can_edit_policy,
    can_retry,
    can_submit,
    ensure_allowed,
)
from audit.context import AuditContext
from audit.permissions import can_verify_audit
from core.decisions import ALLOWED, Refused
from core.errors import Conflict, NotAllowed
from tests.approvals.conftest import approve, submit

NOT_A_DECIDER = Refused("Only key custodians approve or reject requests.")


def test_decisions_are_truthy_when_allowed_and_falsy_when_refused():
    assert (bool(ALLOWED), bool(Refused("no")), bool(Refused("no", conflict=True))) == (
        True,
        False,
        False,
    )


def test_refusal_raises_not_allowed_and_state_refusal_raises_conflict():
    with pytest.raises(NotAllowed, match=r"^who$"):
        ensure_allowed(Refused("who"))
    with pytest.raises(Conflict, match=r"^when$"):
        ensure_allowed(Refused("when", conflict=True))
    assert ensure_allowed(ALLOWED) is None


@pytest.mark.parametrize(
    ("_case", "role"),
    [("requester", "requester"), ("admin", "admin"), ("auditor", "auditor"), ("none", "outsider")],
)
def test_only_custodians_decide(_case, role, pending_request, user_for_role):
    decision = can_decide(user_for_role(role), pending_request, now=timezone.now())
    assert decision == NOT_A_DECIDER


def test_custodian_cannot_decide_own_request(payments_team, custodian):
    set_user_access(
        user=custodian, teams=[payments_team], roles=["custodian"], ctx=AuditContext.system("test")
    )
    change = submit(custodian)
    decision = can_decide(custodian, change, now=timezone.now())
    assert decision == Refused("You cannot decide on your own request.")


def test_decide_refuses_after_the_deadline_as_a_conflict(pending_request, custodian):
    decision = can_decide(custodian, pending_request, now=pending_request.expires_at)
    assert decision == Refused("The request has expired.", conflict=True)
    earlier = pending_request.expires_at - timedelta(seconds=1)
    assert can_decide(custodian, pending_request, now=earlier) == ALLOWED


def test_decide_refuses_a_second_vote_as_a_conflict(pending_request, custodian):
    approve(pending_request, custodian)
    assert can_decide(custodian, pending_request, now=timezone.now()) == Refused(
        "You have already decided on this request; each custodian counts once.", conflict=True
    )


def test_decide_refuses_a_request_no_longer_pending(approved_request, third_custodian):
    decision = can_decide(third_custodian, approved_request, now=timezone.now())
    assert decision == Refused("Cannot move from 'approved' to 'approved'.", conflict=True)


def test_only_the_requester_cancels_and_only_while_pending(
    pending_request, requester, custodian, second_custodian
):
    assert can_cancel(requester, pending_request) == ALLOWED
    assert can_cancel(custodian, pending_request) == Refused(
        "Only the requester can cancel a request."
    )
    approve(pending_request, custodian, second_custodian)
    pending_request.refresh_from_db()
    assert can_cancel(requester, pending_request) == Refused(
        "Cannot move from 'approved' to 'cancelled'.", conflict=True
    )


def test_only_custodians_retry_and_only_failed_requests(approved_request, custodian, admin_user):
    assert can_retry(custodian, approved_request) == Refused(
        "Cannot move from 'approved' to 'retry'.", conflict=True
    )
    approved_request.state = State.FAILED
    assert can_retry(custodian, approved_request) == ALLOWED
    assert can_retry(admin_user, approved_request) == Refused(
        "Only custodians retry failed requests."
    )


def test_backup_download_needs_a_custodian_and_a_backup_that_succeeded(
    inventory, requester, custodian, auditor
):
    change = submit(requester, "key.backup", params={"name": "pay-live"})
    assert can_download_backup(custodian, change) == Refused(
        "Only a key.backup request that succeeded has a backup.", conflict=True
    )
    change.state = State.SUCCEEDED
    assert can_download_backup(custodian, change) == ALLOWED
    assert can_download_backup(auditor, change) == Refused("Only custodians download key backups.")


@pytest.mark.parametrize(
    ("_case", "role", "edit_policy", "verify_audit"),
    [
        ("requester", "requester", False, False),
        ("custodian", "custodian", False, False),
        ("admin", "admin", True, True),
        ("auditor", "auditor", False, True),
        ("outsider", "outsider", False, False),
    ],
)
def test_policy_edit_and_audit_verification_by_role(
    _case, role, edit_policy, verify_audit, user_for_role
):
    user = user_for_role(role)
    assert (bool(can_edit_policy(user)), bool(can_verify_audit(user))) == (
        edit_policy,
        verify_audit,
    )


def test_refusals_name_the_rule_for_policies_and_the_audit_trail(custodian):
    assert (can_edit_policy(custodian), can_verify_audit(custodian)) == (
        Refused("Only admins edit approval policies."),
        Refused("Only auditors and admins may verify the audit trail."),
    )


def test_members_submit_for_their_own_team_only(requester, payments_team, identity_team):
    assert can_submit(requester, payments_team) == ALLOWED
    assert can_submit(requester, identity_team) == Refused("You are not a member of team identity.")


@pytest.mark.parametrize(
    ("_case", "role", "actions"),
    [
        ("requester", "requester", ["cancel"]),
        ("custodian", "custodian", ["approve", "reject"]),
        ("admin", "admin", []),
        ("auditor", "auditor", []),
    ],
)
def test_allowed_actions_on_a_pending_request(_case, role, actions, pending_request, user_for_role):
    now = timezone.now()
    assert allowed_actions(user_for_role(role), pending_request, now=now) == actions


def test_allowed_actions_on_a_failed_request(approved_request, custodian, requester):
    ChangeRequest.objects.filter(pk=approved_request.pk).update(state=State.FAILED)
    approved_request.refresh_from_db()
    now = timezone.now()
    offered = [allowed_actions(user, approved_request, now=now) for user in (custodian, requester)]
    assert offered == [["retry"], []]


def test_the_custodians_who_may_decide_are_the_ones_asked(
    pending_request, custodian, second_custodian, admin_user, auditor
):
    assert deciders_of(pending_request) == sorted([custodian.pk, second_custodian.pk])
