"""Decisions on a request page: approve, reject, cancel, retry — allowed, and refused with no
row and no audit event."""

from __future__ import annotations

import pytest
from django.utils import timezone

from approvals.models import Approval, ChangeRequest, State
from audit.models import AuditEvent
from tests.approvals.conftest import approve, submit
from tests.web.conftest import csrf_post


def test_custodian_approves_with_a_comment(client_for, custodian, pending_request):
    # given
    client = client_for(custodian)

    # when
    response = csrf_post(
        client, f"/requests/{pending_request.pk}/approve/", {"comment": "Looks right."}
    )

    # then
    assert response.status_code == 302
    assert response["Location"] == f"/requests/{pending_request.pk}/"
    approval = Approval.objects.get(request=pending_request)
    assert (approval.approver, approval.decision, approval.comment) == (
        custodian,
        "approve",
        "Looks right.",
    )
    assert AuditEvent.objects.filter(action="request.approval_added").count() == 1


@pytest.mark.parametrize(
    ("_case", "role", "action"),
    [
        ("requester approves own", "requester", "approve"),
        ("requester rejects own", "requester", "reject"),
        ("auditor approves", "auditor", "approve"),
        ("admin rejects", "admin", "reject"),
    ],
)
def test_decision_by_someone_who_may_not_decide_is_refused(
    _case, role, action, user_for_role, client_for, pending_request
):
    # given
    client = client_for(user_for_role(role))
    events_before = AuditEvent.objects.count()

    # when
    response = csrf_post(client, f"/requests/{pending_request.pk}/{action}/", {"comment": "x"})

    # then
    assert response.status_code == 403
    assert Approval.objects.filter(request=pending_request).exists() is False
    assert AuditEvent.objects.count() == events_before
    pending_request.refresh_from_db()
    assert pending_request.state == State.PENDING


def test_reject_without_a_reason_by_a_non_custodian_is_forbidden_not_invalid(
    client_for, auditor, pending_request
):
    # given
    client = client_for(auditor)
    events_before = AuditEvent.objects.count()

    # when
    response = csrf_post(client, f"/requests/{pending_request.pk}/reject/", {"comment": ""})

    # then
    assert response.status_code == 403
    assert Approval.objects.exists() is False
    assert AuditEvent.objects.count() == events_before


def test_decision_on_another_teams_request_is_not_found(client_for, requester, identity_request):
    # given
    client = client_for(requester)

    # when
    response = csrf_post(client, f"/requests/{identity_request.pk}/approve/", {"comment": "x"})

    # then
    assert response.status_code == 404
    assert Approval.objects.exists() is False


def test_second_decision_by_the_same_custodian_is_a_conflict(
    client_for, custodian, pending_request
):
    # given
    approve(pending_request, custodian)
    client = client_for(custodian)
    events_before = AuditEvent.objects.count()

    # when
    response = csrf_post(client, f"/requests/{pending_request.pk}/approve/", {"comment": "again"})

    # then
    assert response.status_code == 409
    assert "each custodian counts once" in response.content.decode()
    assert Approval.objects.filter(request=pending_request).count() == 1
    assert AuditEvent.objects.count() == events_before


def test_reject_without_a_reason_shows_the_error_on_the_comment(
    client_for, custodian, pending_request
):
    # given
    client = client_for(custodian)

    # when
    response = csrf_post(client, f"/requests/{pending_request.pk}/reject/", {"comment": " "})

    # then
    assert response.status_code == 400
    assert response.context["decision_form"].errors["comment"] == [
        "Say why you reject the request."
    ]
    assert 'aria-describedby="id_comment_helptext id_comment_error"' in response.content.decode()
    assert Approval.objects.exists() is False


def test_reject_with_a_reason_ends_the_request(client_for, custodian, pending_request):
    # given
    client = client_for(custodian)

    # when
    response = csrf_post(
        client, f"/requests/{pending_request.pk}/reject/", {"comment": "Wrong curve."}
    )

    # then
    pending_request.refresh_from_db()
    assert response.status_code == 302
    assert pending_request.state == State.REJECTED
    assert Approval.objects.get().decision == "reject"


def test_detail_offers_decisions_only_to_custodians_who_may_decide(
    client_for, requester, custodian, second_custodian, pending_request
):
    # given
    approve(pending_request, second_custodian)
    url = f"/requests/{pending_request.pk}/"

    # when
    pages = [client_for(user).get(url).content.decode() for user in (requester, custodian)]
    decided = client_for(second_custodian).get(url).content.decode()

    # then
    assert [">Approve</button>" in html for html in pages] == [False, True]
    assert ">Approve</button>" not in decided
    assert ">Cancel request</button>" in pages[0]


# --- cancel and retry -----------------------------------------------------------------------------
def test_requester_cancels_a_pending_request(client_for, requester, pending_request):
    # given
    client = client_for(requester)

    # when
    response = csrf_post(client, f"/requests/{pending_request.pk}/cancel/")

    # then
    pending_request.refresh_from_db()
    assert response.status_code == 302
    assert pending_request.state == State.CANCELLED
    assert AuditEvent.objects.filter(action="request.cancelled").count() == 1


def test_custodian_cannot_cancel_someone_elses_request(client_for, custodian, pending_request):
    # given
    client = client_for(custodian)
    events_before = AuditEvent.objects.count()

    # when
    response = csrf_post(client, f"/requests/{pending_request.pk}/cancel/")

    # then
    pending_request.refresh_from_db()
    assert response.status_code == 403
    assert pending_request.state == State.PENDING
    assert AuditEvent.objects.count() == events_before


def test_cancel_after_approval_is_a_conflict_shown_on_the_page(
    client_for, requester, approved_request
):
    # given
    client = client_for(requester)

    # when
    response = csrf_post(client, f"/requests/{approved_request.pk}/cancel/")

    # then
    approved_request.refresh_from_db()
    assert response.status_code == 409
    assert "Cannot move from &#x27;approved&#x27; to &#x27;cancelled&#x27;." in (
        response.content.decode()
    )
    assert approved_request.state == State.APPROVED


def test_failed_request_shows_the_hsm_error_and_custodian_retries_it(
    client_for, custodian, failed_request
):
    # given
    client = client_for(custodian)
    page = client.get(f"/requests/{failed_request.pk}/").content.decode()

    # when
    response = csrf_post(client, f"/requests/{failed_request.pk}/retry/")

    # then
    failed_request.refresh_from_db()
    assert "Caller is not authorized to perform action on resource." in page
    assert "8d2a1f55-0000-4000-8000-00000000e001" in page
    assert ">Retry execution</button>" in page
    assert response.status_code == 302
    assert failed_request.state == State.APPROVED
    assert AuditEvent.objects.filter(action="request.retried").count() == 1


def test_requester_cannot_retry(client_for, requester, failed_request):
    # given
    client = client_for(requester)

    # when
    response = csrf_post(client, f"/requests/{failed_request.pk}/retry/")

    # then
    failed_request.refresh_from_db()
    assert response.status_code == 403
    assert failed_request.state == State.FAILED
    assert AuditEvent.objects.filter(action="request.retried").exists() is False


def test_retry_of_a_pending_request_is_a_conflict(client_for, custodian, pending_request):
    # given
    client = client_for(custodian)

    # when
    response = csrf_post(client, f"/requests/{pending_request.pk}/retry/")

    # then
    assert response.status_code == 409
    assert AuditEvent.objects.filter(action="request.retried").exists() is False


# --- the page offers what the API offers ----------------------------------------------------------
BUTTONS = {
    "approve": ">Approve</button>",
    "reject": ">Reject</button>",
    "cancel": ">Cancel request</button>",
    "retry": ">Retry execution</button>",
    "download_backup": 'href="/api/v1/requests/{pk}/backup/"',
}


@pytest.fixture
def succeeded_backup(inventory, requester):
    change = submit(requester, "key.backup", params={"name": "pay-live"})
    ChangeRequest.objects.filter(pk=change.pk).update(state=State.SUCCEEDED)
    return change


@pytest.mark.parametrize(
    ("_case", "fixture", "user_fixture"),
    [
        pytest.param(f"{user} on {fixture}", fixture, user, id=f"{fixture}-{user}")
        for fixture in ("pending_request", "failed_request", "succeeded_backup")
        for user in (
            "requester",
            "other_requester",
            "custodian",
            "third_custodian",
            "admin_user",
            "auditor",
            "outsider",
        )
    ],
)
def test_detail_page_offers_exactly_the_apis_allowed_actions(
    _case, fixture, user_fixture, request, client_for, api_client_for
):
    # given
    change = request.getfixturevalue(fixture)
    user = request.getfixturevalue(user_fixture)
    offered = api_client_for(user).get(f"/api/v1/requests/{change.pk}/").json()

    # when
    html = client_for(user).get(f"/requests/{change.pk}/").content.decode()

    # then
    shown = [name for name, button in BUTTONS.items() if button.format(pk=change.pk) in html]
    assert shown == offered.get("allowed_actions", [])


def test_approval_queue_leaves_out_a_request_past_its_deadline(
    client_for, custodian, pending_request
):
    # given: the expiry job has not run yet
    ChangeRequest.objects.filter(pk=pending_request.pk).update(expires_at=timezone.now())

    # when
    html = client_for(custodian).get("/approvals/").content.decode()
    detail = client_for(custodian).get(f"/requests/{pending_request.pk}/").content.decode()

    # then
    assert f"/requests/{pending_request.pk}/" not in html
    assert ">Approve</button>" not in detail
