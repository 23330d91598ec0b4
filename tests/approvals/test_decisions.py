"""Who may decide what, when: every refusal leaves no approval, no state change, no event."""

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from approvals import services
from approvals.models import MAX_APPROVALS, Approval, ApprovalPolicy, ChangeRequest
from approvals.services.policies import APPROVALS_RANGE
from audit.context import AuditContext
from audit.models import AuditEvent
from tests.approvals.conftest import approve, submit


def post(client, change, verb, comment="fine"):
    return client.post(f"/api/v1/requests/{change.pk}/{verb}/", {"comment": comment}, format="json")


def assert_untouched(change, state, approvals, events_before):
    change.refresh_from_db()
    assert change.state == state
    assert change.approvals.count() == approvals
    assert AuditEvent.objects.count() == events_before


def test_submission_records_payload_hash_and_event(pending_request):
    event = AuditEvent.objects.get(action="request.submitted")
    assert (pending_request.state, pending_request.approvals_required) == ("pending", 2)
    assert len(pending_request.payload_hash) == 64
    assert event.after["payload_hash"] == pending_request.payload_hash
    assert event.target_id == str(pending_request.pk)


def test_requester_cannot_approve_own_request(pending_request, api_client_for):
    events_before = AuditEvent.objects.count()
    response = post(api_client_for(pending_request.requester), pending_request, "approve")
    assert response.status_code == 403
    assert_untouched(pending_request, "pending", 0, events_before)


def test_custodian_who_requested_cannot_approve(payments_team, custodian, api_client_for):
    from accounts.services import set_user_access

    set_user_access(
        user=custodian, teams=[payments_team], roles=["custodian"], ctx=AuditContext.system("test")
    )
    change = submit(custodian)
    events_before = AuditEvent.objects.count()
    response = post(api_client_for(custodian), change, "approve")
    assert response.status_code == 403
    assert response.json()["detail"] == "You cannot decide on your own request."
    assert_untouched(change, "pending", 0, events_before)


def test_same_custodian_counts_once(pending_request, custodian, api_client_for):
    client = api_client_for(custodian)
    assert post(client, pending_request, "approve").status_code == 200
    events_before = AuditEvent.objects.count()
    response = post(client, pending_request, "approve")
    assert response.status_code == 409
    assert_untouched(pending_request, "pending", 1, events_before)


def test_two_custodians_approve_and_the_request_is_dispatched(
    pending_request, custodian, second_custodian, api_client_for, django_capture_on_commit_callbacks
):
    post(api_client_for(custodian), pending_request, "approve")
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(api_client_for(second_custodian), pending_request, "approve")
    body = response.json()
    assert (response.status_code, body["state"], body["approvals_count"]) == (200, "approved", 2)
    assert [a["payload_hash"] for a in body["approvals"]] == [pending_request.payload_hash] * 2
    assert len(callbacks) == 2  # the execution dispatch and the requester's email
    assert list(
        AuditEvent.objects.filter(target_id=str(pending_request.pk))
        .values_list("action", flat=True)
        .order_by("sequence")
    ) == [
        "request.submitted",
        "request.approval_added",
        "request.approval_added",
        "request.approved",
        "request.dispatched",
    ]


def test_purge_needs_three_approvals(inventory, requester, custodian, second_custodian):
    change = submit(requester, "key.purge", params={"name": "pay-deleted"})
    change = approve(change, custodian, second_custodian)
    assert (change.approvals_required, change.state) == (3, "pending")


@pytest.mark.parametrize(
    ("_case", "role"), [("requester", "requester"), ("auditor", "auditor"), ("admin", "admin")]
)
def test_only_custodians_decide(
    _case, role, pending_request, user_for_role, other_requester, api_client_for
):
    user = other_requester if role == "requester" else user_for_role(role)
    events_before = AuditEvent.objects.count()
    response = post(api_client_for(user), pending_request, "approve")
    assert response.status_code == (404 if role == "requester" else 403)
    assert_untouched(pending_request, "pending", 0, events_before)


def test_requester_cannot_see_or_act_on_another_teams_request(
    pending_request, other_requester, api_client_for
):
    client = api_client_for(other_requester)
    events_before = AuditEvent.objects.count()
    assert client.get(f"/api/v1/requests/{pending_request.pk}/").status_code == 404
    assert client.post(f"/api/v1/requests/{pending_request.pk}/cancel/").status_code == 404
    assert post(client, pending_request, "approve").status_code == 404
    assert_untouched(pending_request, "pending", 0, events_before)


def test_requester_cannot_submit_for_another_team(inventory, requester, api_client_for):
    response = api_client_for(requester).post(
        "/api/v1/requests/",
        {
            "operation": "key.rotate",
            "team": "identity",
            "justification": "x",
            "params": {"name": "idn-key"},
        },
        format="json",
    )
    assert response.status_code == 403
    assert ChangeRequest.objects.count() == 0


def test_one_rejection_ends_the_request(
    pending_request, custodian, second_custodian, api_client_for
):
    post(api_client_for(custodian), pending_request, "approve")
    response = post(api_client_for(second_custodian), pending_request, "reject", "wrong key")
    assert (response.status_code, response.json()["state"]) == (200, "rejected")


def test_rejection_needs_a_reason(pending_request, custodian, api_client_for):
    events_before = AuditEvent.objects.count()
    response = post(api_client_for(custodian), pending_request, "reject", "  ")
    assert (response.status_code, list(response.json()["errors"])) == (400, ["comment"])
    assert_untouched(pending_request, "pending", 0, events_before)


@pytest.mark.parametrize(
    ("_case", "role"), [("requester", "requester"), ("admin", "admin"), ("auditor", "auditor")]
)
def test_reject_without_a_reason_by_someone_who_may_not_decide_is_forbidden(
    _case, role, pending_request, user_for_role, api_client_for
):
    # given: the permission is checked before the comment
    events_before = AuditEvent.objects.count()
    # when
    response = post(api_client_for(user_for_role(role)), pending_request, "reject", "")
    # then
    assert response.status_code == 403
    assert_untouched(pending_request, "pending", 0, events_before)


@pytest.mark.parametrize("ending", ["cancel", "reject", "expire"])
def test_decided_requests_refuse_approvals(
    ending, pending_request, custodian, second_custodian, api_client_for
):
    # given
    if_ending = {
        "cancel": lambda: services.cancel_request(
            request_id=pending_request.pk, requester=pending_request.requester, ctx=AuditContext()
        ),
        "reject": lambda: services.reject_request(
            request_id=pending_request.pk,
            custodian=second_custodian,
            comment="no",
            ctx=AuditContext(),
        ),
        "expire": lambda: services.expire_pending_requests(
            now=timezone.now() + timedelta(days=8), ctx=AuditContext.scheduler(job="test")
        ),
    }
    if_ending[ending]()
    pending_request.refresh_from_db()
    state, approvals = pending_request.state, pending_request.approvals.count()
    events_before = AuditEvent.objects.count()
    # when
    response = post(api_client_for(custodian), pending_request, "approve")
    # then
    assert response.status_code == 409
    assert_untouched(pending_request, state, approvals, events_before)


def test_pending_request_past_its_deadline_cannot_be_approved(
    pending_request, custodian, api_client_for
):
    ChangeRequest.objects.filter(pk=pending_request.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    response = post(api_client_for(custodian), pending_request, "approve")
    assert (response.status_code, response.json()["detail"]) == (409, "The request has expired.")


def test_expiry_job_expires_only_overdue_requests(inventory, requester):
    overdue, fresh = submit(requester), submit(requester, "key.rotate", params={"name": "pay-live"})
    ChangeRequest.objects.filter(pk=overdue.pk).update(expires_at=timezone.now())
    expired = services.expire_pending_requests(
        now=timezone.now(), ctx=AuditContext.scheduler(job="test")
    )
    assert expired == [overdue.pk]
    fresh.refresh_from_db()
    assert fresh.state == "pending"


def test_only_the_requester_cancels(pending_request, payments_team, api_client_for):
    from tests.factories import UserFactory

    teammate = UserFactory(username="trent", access={"teams": [payments_team]})
    response = api_client_for(teammate).post(f"/api/v1/requests/{pending_request.pk}/cancel/")
    assert response.status_code == 403
    response = api_client_for(pending_request.requester).post(
        f"/api/v1/requests/{pending_request.pk}/cancel/"
    )
    assert (response.status_code, response.json()["state"]) == (200, "cancelled")


def test_cancelled_request_frees_the_key(pending_request, requester):
    services.cancel_request(request_id=pending_request.pk, requester=requester, ctx=AuditContext())
    assert submit(requester).state == "pending"


def test_second_open_request_on_a_key_is_a_conflict(pending_request, requester, api_client_for):
    response = api_client_for(requester).post(
        "/api/v1/requests/",
        {
            "operation": "key.create",
            "team": "payments",
            "justification": "again",
            "params": {"name": "pay-new", "kty": "EC-HSM", "curve": "P-384", "key_ops": ["sign"]},
        },
        format="json",
    )
    assert response.status_code == 409
    assert ChangeRequest.objects.count() == 1


def test_retry_is_for_custodians_on_failed_requests(
    approved_request, custodian, requester, api_client_for
):
    ChangeRequest.objects.filter(pk=approved_request.pk).update(state="failed")
    assert (
        api_client_for(requester).post(f"/api/v1/requests/{approved_request.pk}/retry/").status_code
        == 403
    )
    response = api_client_for(custodian).post(f"/api/v1/requests/{approved_request.pk}/retry/")
    assert (response.status_code, response.json()["state"]) == (200, "approved")
    assert AuditEvent.objects.filter(action="request.retried").count() == 1


def test_retry_of_a_pending_request_is_illegal(pending_request, custodian, api_client_for):
    response = api_client_for(custodian).post(f"/api/v1/requests/{pending_request.pk}/retry/")
    assert response.status_code == 409


def test_tampered_payload_cannot_be_approved(pending_request, custodian, second_custodian):
    approve(pending_request, custodian)
    ChangeRequest.objects.filter(pk=pending_request.pk).update(
        params={**pending_request.params, "curve": "P-521"}
    )
    with pytest.raises(Exception, match="altered after submission"):
        approve(pending_request, second_custodian)
    assert Approval.objects.filter(request=pending_request).count() == 1


@pytest.mark.parametrize(
    ("_case", "role", "visible"),
    [
        ("requester", "requester", 1),
        ("custodian", "custodian", 1),
        ("auditor", "auditor", 1),
        ("admin", "admin", 1),
        ("outsider", "outsider", 0),
    ],
)
def test_request_list_is_scoped(
    _case, role, visible, pending_request, user_for_role, api_client_for
):
    response = api_client_for(user_for_role(role)).get("/api/v1/requests/")
    assert response.json()["count"] == visible


def test_request_list_filters(inventory, requester, custodian, api_client_for):
    submit(requester)
    submit(requester, "key.rotate", params={"name": "pay-live"})
    client = api_client_for(custodian)
    assert client.get("/api/v1/requests/", {"operation": "key.rotate"}).json()["count"] == 1
    assert (
        client.get("/api/v1/requests/", {"state": "pending", "team": "payments"}).json()["count"]
        == 2
    )
    assert api_client_for(requester).get("/api/v1/requests/", {"mine": "true"}).json()["count"] == 2
    assert client.get("/api/v1/requests/", {"mine": "true"}).json()["count"] == 0


def test_admin_edits_a_policy_and_it_is_audited(
    admin_user, custodian, second_custodian, third_custodian, api_client_for
):
    response = api_client_for(admin_user).patch(
        "/api/v1/policies/key.rotate/", {"approvals_required": 3}, format="json"
    )
    assert (response.status_code, response.json()["approvals_required"]) == (200, 3)
    assert AuditEvent.objects.get(action="policy.updated").after["approvals_required"] == 3
    refused = api_client_for(custodian).patch(
        "/api/v1/policies/key.rotate/", {"approvals_required": 2}, format="json"
    )
    assert refused.status_code == 403


def test_policy_cannot_drop_below_dual_approval(admin_user, api_client_for):
    response = api_client_for(admin_user).patch(
        "/api/v1/policies/key.rotate/", {"approvals_required": 1}, format="json"
    )
    assert (response.status_code, list(response.json()["errors"])) == (400, ["approvals_required"])


def test_policy_cannot_ask_for_more_than_the_most_approvals(admin_user, api_client_for):
    # when
    response = api_client_for(admin_user).patch(
        "/api/v1/policies/key.rotate/", {"approvals_required": MAX_APPROVALS + 1}, format="json"
    )

    # then
    assert (response.status_code, response.json()["errors"]) == (
        400,
        {"approvals_required": [APPROVALS_RANGE]},
    )
    assert ApprovalPolicy.objects.exists() is False
    assert AuditEvent.objects.filter(action="policy.updated").exists() is False


def test_database_refuses_a_policy_outside_the_approvals_range(db):
    with pytest.raises(IntegrityError, match="policy_approvals_in_range"):
        ApprovalPolicy.objects.create(operation="key.rotate", approvals_required=MAX_APPROVALS + 1)
