"""Submitting through the pages: preview (nothing written) → confirm (exactly what was
previewed), and every refusal writes nothing."""

from __future__ import annotations

import re

import pytest

from approvals.models import ChangeRequest
from audit.models import AuditEvent
from tests.web.conftest import EC_KEY_FORM, csrf_post, draft_token


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
        "is_kek": False,
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
