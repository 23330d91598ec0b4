import pytest

from accounts.roles import Role
from core.errors import Conflict
from keys.gateway import HsmUnavailable
from keys.services.bootstrap import bootstrap_audit_signer
from keys.services.readiness import MissingPermissions
from portal.health import failure_detail

DOWN_HSM = "https://127.0.0.1:9"  # nothing listens on this port


def test_healthz_answers_anonymous(anonymous_client):
    response = anonymous_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"process": {"status": "ok"}}}


def test_readyz_names_each_check_and_fails_without_hsm(anonymous_client, db, settings):
    # given
    settings.HSM_URL = DOWN_HSM
    # when
    response = anonymous_client.get("/readyz")
    # then
    body = response.json()
    assert response.status_code == 503
    assert set(body["checks"]) == {"database", "broker", "hsm"}
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "ok"
    assert body["checks"]["hsm"]["status"] == "fail"


@pytest.fixture
def ready_hsm(hsm):
    """The emulator with Keywarden's role and the audit signer bootstrapped: /readyz passes."""
    bootstrap_audit_signer(admin_gateway=hsm.admin, key_manager_gateway=hsm.keywarden)
    return hsm


@pytest.mark.parametrize(("_case", "role"), [("anonymous", None), ("auditor", Role.AUDITOR)])
def test_readyz_tells_anyone_but_admins_each_status_only(
    _case, role, client, user_for_role, db, settings
):
    # given
    settings.HSM_URL = DOWN_HSM
    if role:
        client.force_login(user_for_role(role))
    # when
    response = client.get("/readyz")
    # then: no URL, no rights, no exception text
    assert response.status_code == 503
    assert response.json() == {
        "status": "fail",
        "checks": {
            "database": {"status": "ok"},
            "broker": {"status": "ok"},
            "hsm": {"status": "fail"},
        },
    }


def test_readyz_tells_anonymous_callers_nothing_of_a_ready_hsm(
    anonymous_client, ready_hsm, db, settings
):
    response = anonymous_client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["hsm"] == {"status": "ok"}
    assert settings.HSM_URL not in response.content.decode()


def test_readyz_gives_admins_the_details(client, admin_user, ready_hsm, settings):
    # given
    client.force_login(admin_user)
    # when
    response = client.get("/readyz")
    # then
    hsm = response.json()["checks"]["hsm"]
    assert response.status_code == 200
    assert hsm["detail"] == f"{settings.HSM_URL} reachable; all 15 data actions granted"
    assert hsm["duration_ms"] >= 0


def test_readyz_tells_admins_why_the_hsm_failed(client, admin_user, db, settings):
    # given
    settings.HSM_URL = DOWN_HSM
    client.force_login(admin_user)
    # when
    hsm = client.get("/readyz").json()["checks"]["hsm"]
    # then
    assert (hsm["status"], hsm["detail"].split(":")[0]) == ("fail", "HsmUnavailable")


@pytest.mark.parametrize(
    ("_case", "error", "detail"),
    [
        ("missing right", MissingPermissions("lacks keys/backup"), "lacks keys/backup"),
        ("HSM error", HsmUnavailable("HSM unreachable"), "HsmUnavailable: HSM unreachable"),
        ("domain error", Conflict("busy"), "Conflict: busy"),
        (
            "anything else",
            RuntimeError("postgres://keywarden:s3cret@db/keywarden"),
            "RuntimeError (details in the log)",
        ),
    ],
)
def test_a_failed_check_says_only_what_we_wrote(_case, error, detail):
    assert failure_detail(error) == detail


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
