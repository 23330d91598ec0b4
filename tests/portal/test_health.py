import pytest

from accounts.roles import Role


def test_healthz_answers_anonymous(anonymous_client):
    response = anonymous_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"process": {"status": "ok"}}}


def test_readyz_names_each_check_and_fails_without_hsm(anonymous_client, db, settings):
    # given: nothing listens on this port
    settings.HSM_URL = "https://127.0.0.1:9"
    # when
    response = anonymous_client.get("/readyz")
    # then
    body = response.json()
    assert response.status_code == 503
    assert set(body["checks"]) == {"database", "broker", "hsm"}
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "ok"
    assert body["checks"]["hsm"]["status"] == "fail"


@pytest.mark.parametrize(
    ("_case", "role"),
    [("requester", Role.REQUESTER), ("custodian", Role.CUSTODIAN), ("auditor", Role.AUDITOR)],
)
def test_healthz_answers_signed_in_users(_case, role, user_for_role, client):
    client.force_login(user_for_role(role))
    assert client.get("/healthz").status_code == 200


def test_every_response_carries_a_request_id(anonymous_client):
    response = anonymous_client.get("/healthz")
    assert len(response["X-Request-ID"]) == 32


def test_well_formed_caller_request_id_is_kept(anonymous_client):
    response = anonymous_client.get("/healthz", HTTP_X_REQUEST_ID="trace-1234-abcd")
    assert response["X-Request-ID"] == "trace-1234-abcd"


def test_malformed_caller_request_id_is_replaced(anonymous_client):
    response = anonymous_client.get("/healthz", HTTP_X_REQUEST_ID="<script>")
    assert response["X-Request-ID"] != "<script>"


def test_caller_request_id_with_a_trailing_newline_is_replaced(anonymous_client):
    response = anonymous_client.get("/healthz", HTTP_X_REQUEST_ID="trace-1234-abcd\n")
    assert len(response["X-Request-ID"]) == 32
    assert response["X-Request-ID"] != "trace-1234-abcd"
