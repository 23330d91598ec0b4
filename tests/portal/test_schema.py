import pytest
from django.core.management import call_command
from rest_framework import serializers

from accounts.roles import Role
from approvals.operations import SPECS


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


def _resolve(schema: dict, node: dict) -> dict:
    """`node` with `$ref` and single-element `allOf` followed."""
    while True:
        if "$ref" in node:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        elif len(node.get("allOf", [])) == 1:
            node = node["allOf"][0]
        else:
            return node


def _documented_paths(schema: dict, node: dict, prefix: str = "") -> set[str]:
    """Every property below `node` as a dotted path (`rotation_policy.lifetime_actions.action`)."""
    node = _resolve(schema, node)
    if node.get("type") == "array":
        return _documented_paths(schema, node["items"], prefix)
    paths = set()
    for name, child in node.get("properties", {}).items():
        paths |= {f"{prefix}{name}"} | _documented_paths(schema, child, f"{prefix}{name}.")
    return paths


def _declared_paths(serializer, prefix: str = "") -> set[str]:
    """The same paths, read from the operation's params serializer."""
    paths = set()
    for name, field in serializer.fields.items():
        nested = getattr(field, "child", field)
        paths.add(f"{prefix}{name}")
        if isinstance(nested, serializers.Serializer):
            paths |= _declared_paths(nested, f"{prefix}{name}.")
    return paths


def test_schema_documents_every_param_of_every_operation(requester, api_client_for):
    # given
    client = api_client_for(requester)
    # when
    schema = client.get("/api/schema/", {"format": "json"}).json()
    # then
    body = schema["paths"]["/api/v1/requests/"]["post"]["requestBody"]["content"]
    submit = _resolve(schema, body["application/json"]["schema"])
    assert submit["discriminator"]["propertyName"] == "operation"
    mapping = submit["discriminator"]["mapping"]
    assert set(mapping) == set(SPECS)
    assert len(submit["oneOf"]) == len(SPECS)
    for operation, reference in mapping.items():
        envelope = _resolve(schema, {"$ref": reference})
        assert set(envelope["properties"]) == {"operation", "team", "justification", "params"}
        params = _resolve(schema, envelope["properties"]["params"])
        declared = SPECS[operation].params()
        assert _documented_paths(schema, params) == _declared_paths(declared), operation
        required = {name for name, field in declared.fields.items() if field.required}
        assert set(params.get("required", [])) == required, operation


def test_schema_documents_strict_key_names(requester, api_client_for):
    schema = api_client_for(requester).get("/api/schema/", {"format": "json"}).json()
    name = schema["components"]["schemas"]["KeyNameParams"]["properties"]["name"]
    assert name["pattern"] == "^[0-9a-zA-Z-]{1,127}$"


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
