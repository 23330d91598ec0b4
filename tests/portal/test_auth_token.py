import io
from datetime import timedelta

from django.core.management import call_command
from knox.models import AuthToken

from accounts.models import User
from audit.models import AuditEvent
from tests.conftest import PASSWORD


def test_token_endpoint_returns_working_token(anonymous_client, requester):
    # when
    response = anonymous_client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    )
    # then
    assert response.status_code == 200
    token = response.json()["token"]
    anonymous_client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anonymous_client.get("/api/v1/me/").json()["username"] == "alice"


def test_token_is_stored_hashed(anonymous_client, requester):
    response = anonymous_client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    )
    token = response.json()["token"]
    stored = AuthToken.objects.get(user=requester)
    assert token not in stored.digest
    assert token.startswith(stored.token_key)


def test_token_endpoint_refuses_wrong_password(anonymous_client, requester):
    response = anonymous_client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": "wrong"}, format="json"
    )
    assert response.status_code == 401
    assert response.json() == {"detail": "Invalid username or password."}
    assert AuthToken.objects.count() == 0


def test_token_endpoint_reports_missing_fields(anonymous_client, db):
    response = anonymous_client.post("/api/v1/auth/token/", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"username", "password"}


def test_logout_revokes_token(api_client_for, requester):
    client = api_client_for(requester)
    assert client.post("/api/v1/auth/logout/").status_code == 204
    assert client.get("/api/v1/me/").status_code == 401


# --- with local login off, no password path remains -------------------------------------------
def test_token_endpoint_refuses_passwords_with_local_login_off(
    settings, anonymous_client, requester
):
    # given
    settings.LOCAL_LOGIN_ENABLED = False
    events_before = AuditEvent.objects.count()
    # when
    response = anonymous_client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    )
    # then
    assert response.status_code == 403
    assert response.json() == {
        "detail": "Password sign-in is turned off (KEYWARDEN_LOCAL_LOGIN=false). Call the API "
        "with a Microsoft Entra ID access token: Authorization: Bearer <token>."
    }
    assert AuthToken.objects.count() == 0
    assert AuditEvent.objects.count() == events_before


def test_admin_login_refuses_passwords_with_local_login_off(settings, client, admin_user):
    # given
    settings.LOCAL_LOGIN_ENABLED = False
    User.objects.filter(pk=admin_user.pk).update(is_staff=True, is_superuser=True)
    # when
    response = client.post("/admin/login/?next=/admin/", {"username": "erin", "password": PASSWORD})
    # then
    assert response.status_code == 404
    assert "Password sign-in is turned off" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_admin_login_page_sends_to_portal_sign_in_with_local_login_off(settings, client, db):
    settings.LOCAL_LOGIN_ENABLED = False
    response = client.get("/admin/login/", {"next": "/admin/accounts/user/"})
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Faccounts%2Fuser%2F"


def test_admin_login_takes_passwords_with_local_login_on(client, admin_user):
    # given
    User.objects.filter(pk=admin_user.pk).update(is_staff=True, is_superuser=True)
    # when
    response = client.post("/admin/login/?next=/admin/", {"username": "erin", "password": PASSWORD})
    # then
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


# --- tokens die with a password change and are capped per user -------------------------------
def test_password_change_revokes_the_users_api_tokens(api_client_for, requester, custodian):
    # given
    clients = [api_client_for(requester), api_client_for(requester)]
    other = api_client_for(custodian)
    # when
    requester.set_password("a-brand-new-passphrase")
    requester.save()
    # then
    assert [c.get("/api/v1/me/").status_code for c in clients] == [401, 401]
    assert other.get("/api/v1/me/").status_code == 200
    assert AuthToken.objects.filter(user=requester).count() == 0
    event = AuditEvent.objects.get(action="auth.tokens_revoked")
    assert (event.target_id, event.actor_label, event.after) == (
        str(requester.pk),
        "password-change",
        {"count": 2, "reason": "password changed"},
    )


def test_changepassword_command_revokes_api_tokens(api_client_for, requester, monkeypatch):
    # given
    client = api_client_for(requester)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "a-brand-new-passphrase")
    # when
    call_command("changepassword", "alice", stdout=io.StringIO())
    # then
    assert client.get("/api/v1/me/").status_code == 401


def test_token_endpoint_refuses_a_token_past_the_limit(settings, anonymous_client, requester):
    # given
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 2}
    body = {"username": "alice", "password": PASSWORD}
    # when
    statuses = [
        anonymous_client.post("/api/v1/auth/token/", body, format="json").status_code
        for _ in range(3)
    ]
    refused = anonymous_client.post("/api/v1/auth/token/", body, format="json")
    # then
    assert statuses == [200, 200, 403]
    assert refused.json()["detail"].startswith("You already hold 2 live API tokens")
    assert AuthToken.objects.filter(user=requester).count() == 2
    assert AuditEvent.objects.filter(action="auth.token_issued").count() == 2


def test_expired_tokens_do_not_count_against_the_limit(settings, anonymous_client, requester):
    # given
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 1}
    AuthToken.objects.create(requester, expiry=timedelta(seconds=-1))
    # when
    response = anonymous_client.post(
        "/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"
    )
    # then
    assert response.status_code == 200
    assert AuthToken.objects.filter(user=requester).count() == 1


def test_default_limit_is_ten_live_tokens(settings):
    assert settings.REST_KNOX["TOKEN_LIMIT_PER_USER"] == 10
