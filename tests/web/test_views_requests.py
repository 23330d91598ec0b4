"""The POST actions of the request pages: submit (preview → confirm), approve, reject, cancel,
retry and the admin's policy edit — allowed, and refused with no row and no audit event."""

from __future__ import annotations

import re

import pytest

from approvals.models import Approval, ApprovalPolicy, ChangeRequest, State
from audit.models import AuditEvent
from tests.approvals.conftest import approve

EC_KEY_FORM = {
    "team": "payments",
    "name": "pay-web",
    "kty": "EC-HSM",
    "curve": "P-256",
    "key_ops": ["sign", "verify"],
    "justification": "Signing key for the checkout service.",
}


def csrf_post(client, path, data=None, **extra):
    """POST with the CSRF token a real browser would send (cookie + form field)."""
    client.get("/")
    token = client.cookies["csrftoken"].value
    return client.post(path, {**(data or {}), "csrfmiddlewaretoken": token}, **extra)


def draft_token(response) -> str:
    return re.search(r'name="draft" value="([^"]+)"', response.content.decode()).group(1)


# --- submit ---------------------------------------------------------------------------------------
def test_preview_shows_what_will_run_and_writes_nothing(client_for, requester, payments_team):
    # given
    client = client_for(requester)
    events_before = AuditEvent.objects.count()

    # when
    response = csrf_post(client, "/requests/new/key.create/", EC_KEY_FORM)

    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert "create_key(&#x27;pay-web&#x27;, kty=&#x27;EC-HSM&#x27;, curve=&#x27;P-256&#x27;" in html
    assert '<dd id="approvals-needed">2</dd>' in html
    assert ChangeRequest.objects.exists() is False
    assert AuditEvent.objects.count() == events_before


def test_confirm_submits_exactly_the_previewed_request(client_for, requester, payments_team):
    # given
    client = client_for(requester)
    token = draft_token(csrf_post(client, "/requests/new/key.create/", EC_KEY_FORM))

    # when
    response = csrf_post(client, "/requests/new/key.create/confirm/", {"draft": token})

    # then
    change = ChangeRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/requests/{change.pk}/"
    assert (change.operation, change.team.slug, change.state) == (
        "key.create",
        "payments",
        "pending",
    )
    assert change.params == {
        "name": "pay-web",
        "kty": "EC-HSM",
        "curve": "P-256",
        "key_ops": ["sign", "verify"],
        "exportable": False,
    }
    assert AuditEvent.objects.filter(action="request.submitted").count() == 1


def test_confirm_twice_submits_once(client_for, requester, payments_team):
    # given
    client = client_for(requester)
    token = draft_token(csrf_post(client, "/requests/new/key.create/", EC_KEY_FORM))
    csrf_post(client, "/requests/new/key.create/confirm/", {"draft": token})

    # when
    response = csrf_post(client, "/requests/new/key.create/confirm/", {"draft": token})

    # then
    assert response.status_code == 302
    assert response["Location"] == "/requests/new/key.create/"
    assert ChangeRequest.objects.count() == 1


def test_confirm_of_a_second_open_request_on_the_key_is_a_conflict(
    client_for, requester, inventory
):
    # given
    client = client_for(requester)
    rotate = {"team": "payments", "name": "pay-live", "justification": "Yearly rotation."}
    first = draft_token(csrf_post(client, "/requests/new/key.rotate/", rotate))
    second = draft_token(csrf_post(client, "/requests/new/key.rotate/", rotate))
    csrf_post(client, "/requests/new/key.rotate/confirm/", {"draft": first})

    # when
    response = csrf_post(client, "/requests/new/key.rotate/confirm/", {"draft": second})

    # then
    assert response.status_code == 409
    assert "Another request on key pay-live is still open" in response.content.decode()
    assert ChangeRequest.objects.count() == 1


def test_confirm_rechecks_what_changed_since_the_preview(client_for, requester, inventory):
    # given
    client = client_for(requester)
    rotate = {"team": "payments", "name": "pay-live", "justification": "Yearly rotation."}
    token = draft_token(csrf_post(client, "/requests/new/key.rotate/", rotate))
    inventory["pay-live"].__class__.objects.filter(name="pay-live").update(state="deleted")

    # when
    response = csrf_post(client, "/requests/new/key.rotate/confirm/", {"draft": token})

    # then
    assert response.status_code == 400
    assert ["pay-live" in problem for problem in response.context["problems"]] == [True]
    assert "pay-live" in response.content.decode().split('role="alert"')[1]
    assert response.context["form"].initial["name"] == "pay-live"
    assert ChangeRequest.objects.exists() is False


@pytest.mark.parametrize(
    ("_case", "role"),
    [("custodian", "custodian"), ("admin", "admin"), ("auditor", "auditor"), ("none", "outsider")],
)
def test_only_team_members_may_submit(_case, role, user_for_role, client_for, payments_team):
    # given
    client = client_for(user_for_role(role))

    # when
    response = csrf_post(client, "/requests/new/key.create/", EC_KEY_FORM)

    # then
    assert response.status_code == 403
    assert ChangeRequest.objects.exists() is False


def test_form_offers_only_the_requesters_teams_and_refuses_another(
    client_for, requester, identity_team
):
    # given
    client = client_for(requester)

    # when
    form = client.get("/requests/new/key.create/").content.decode()
    response = csrf_post(
        client, "/requests/new/key.create/", {**EC_KEY_FORM, "team": "identity", "name": "idn-x"}
    )

    # then
    assert re.findall(r'<option value="(\w+)"[^>]*>\w+ \(', form) == ["payments"]
    assert response.status_code == 400
    assert response.context["form"].errors["team"] == [
        "Select a valid choice. identity is not one of the available choices."
    ]
    assert ChangeRequest.objects.exists() is False


def test_missing_csrf_token_is_refused(client_for, requester, payments_team):
    # given
    client = client_for(requester)

    # when
    response = client.post("/requests/new/key.create/", EC_KEY_FORM)

    # then
    assert response.status_code == 403
    assert ChangeRequest.objects.exists() is False


# --- decisions ------------------------------------------------------------------------------------
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


# --- approval policies ----------------------------------------------------------------------------
def test_admin_edits_a_policy(client_for, admin_user):
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
