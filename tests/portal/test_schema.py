import pytest
from django.core.management import call_command

from accounts.roles import Role


@pytest.mark.parametrize(
    ("_case", "role"),
    [
        ("requester", Role.REQUESTER),
        ("custodian", Role.CUSTODIAN),
        ("admin", Role.ADMIN),
        ("auditor", Role.AUDITOR),
    ],
)
def test_schema_served_to_every_role(_case, role, user_for_role, api_client_for):
    response = api_client_for(user_for_role(role)).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert "/api/v1/me/" in response.json()["paths"]


def test_schema_refuses_anonymous(anonymous_client, db):
    assert anonymous_client.get("/api/schema/").status_code == 401


def test_docs_page_redirects_anonymous_to_sign_in(client, db):
    response = client.get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/api/docs/")


def test_docs_page_uses_local_assets_only(client, requester):
    client.force_login(requester)
    response = client.get("/api/docs/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn." not in html


def test_schema_generates_without_warnings(db):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_schema_documents_allowed_actions(requester, api_client_for):
    schemas = api_client_for(requester).get("/api/schema/", {"format": "json"}).json()
    components = schemas["components"]["schemas"]
    assert components["ChangeRequest"]["properties"]["allowed_actions"]["items"] == {
        "$ref": "#/components/schemas/RequestActionEnum"
    }
    assert components["RequestActionEnum"]["enum"] == [
        "approve",
        "reject",
        "cancel",
        "retry",
        "download_backup",
    ]
    assert components["UserActionEnum"]["enum"] == ["edit_policy", "verify_audit"]
    assert "allowed_actions" in components["Me"]["properties"]
