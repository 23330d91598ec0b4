from knox.models import AuthToken

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
