"""Sign-in, sign-out and failed sign-in land in the audit trail, through the real endpoints."""

import json

from django.core.serializers.json import DjangoJSONEncoder
from knox.models import AuthToken

from audit.models import AuditEvent
from tests.conftest import PASSWORD

BROWSER = {"REMOTE_ADDR": "203.0.113.9", "HTTP_USER_AGENT": "Mozilla/5.0 Firefox/140.0"}


def test_sign_in_page_records_login(client, requester):
    # when
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD}, **BROWSER
    )
    # then
    assert response.status_code == 302
    (event,) = AuditEvent.objects.all()
    assert (event.action, event.actor, event.actor_label, event.actor_type) == (
        "auth.login",
        requester,
        "alice",
        "user",
    )
    assert (event.target_type, event.target_id, event.target_name) == (
        "accounts.user",
        str(requester.pk),
        "alice",
    )
    assert (event.client_ip, event.user_agent) == ("203.0.113.9", "Mozilla/5.0 Firefox/140.0")
    assert event.request_id == response["X-Request-ID"]


def test_failed_sign_in_records_attempted_username_never_password(client, requester):
    # when
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "hunter2-guess"}, **BROWSER
    )
    # then
    assert response.status_code == 200
    (event,) = AuditEvent.objects.all()
    assert (event.action, event.actor, event.actor_label, event.actor_type) == (
        "auth.login_failed",
        None,
        "anonymous",
        "anonymous",
    )
    assert (event.target_type, event.target_id, event.target_name) == (
        "accounts.user",
        str(requester.pk),
        "alice",
    )
    assert (event.client_ip, event.user_agent) == ("203.0.113.9", "Mozilla/5.0 Firefox/140.0")
    stored = AuditEvent.objects.filter(pk=event.pk).values().get()
    assert "hunter2" not in json.dumps(stored, cls=DjangoJSONEncoder)


def test_failed_sign_in_for_unknown_username_has_no_target_id(client, db):
    # when
    client.post("/accounts/login/", {"username": "nobody", "password": "x"}, **BROWSER)
    # then
    (event,) = AuditEvent.objects.all()
    assert (event.action, event.target_id, event.target_name) == ("auth.login_failed", "", "nobody")


def test_sign_out_records_logout(client, requester):
    # given
    client.force_login(requester)
    # when
    response = client.post("/accounts/logout/", **BROWSER)
    # then
    assert response.status_code == 302
    assert list(AuditEvent.objects.values_list("action", "actor_label", "client_ip")) == [
        ("auth.login", "alice", ""),  # force_login: no client address
        ("auth.logout", "alice", "203.0.113.9"),
    ]


def test_sign_out_without_session_records_nothing(client, db):
    # when
    client.post("/accounts/logout/")
    # then
    assert AuditEvent.objects.count() == 0


def test_token_endpoint_records_token_issued(anonymous_client, requester):
    # when
    response = anonymous_client.post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": PASSWORD},
        format="json",
        **BROWSER,
    )
    # then
    assert response.status_code == 200
    token = AuthToken.objects.get(user=requester)
    (event,) = AuditEvent.objects.all()
    assert (event.action, event.actor, event.actor_type) == ("auth.token_issued", requester, "user")
    assert (event.target_type, event.target_id) == ("accounts.user", str(requester.pk))
    assert event.after == {"expiry": DjangoJSONEncoder().default(token.expiry)}
    assert (event.client_ip, event.request_id) == ("203.0.113.9", response["X-Request-ID"])


def test_token_endpoint_records_failed_sign_in_and_issues_nothing(anonymous_client, requester):
    # when
    response = anonymous_client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": "wrong"}, format="json"
    )
    # then
    assert response.status_code == 401
    assert AuthToken.objects.count() == 0
    assert list(AuditEvent.objects.values_list("action", "actor_type", "target_name")) == [
        ("auth.login_failed", "anonymous", "alice")
    ]


def test_token_logout_records_logout(api_client_for, requester):
    # given
    client = api_client_for(requester)
    # when
    response = client.post("/api/v1/auth/logout/")
    # then
    assert response.status_code == 204
    assert list(AuditEvent.objects.values_list("action", "actor_label")) == [
        ("auth.logout", "alice")
    ]
