"""Entra ID bearer tokens on the API: app-only tokens from the client-credentials grant of a
real OpenID Connect provider (`oidc_provider`), mapped to Keywarden service accounts."""

from __future__ import annotations

import base64
import json
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from rest_framework.test import APIClient

from accounts.models import User
from accounts.roles import Role
from accounts.services import save_service_account
from approvals.models import ChangeRequest
from audit.context import AuditContext
from audit.models import AuditEvent
from audit.services import seal_events

KEY_CREATE = {
    "operation": "key.create",
    "team": "payments",
    "justification": "pipeline key",
    "params": {"name": "pay-pipeline", "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign"]},
}


@pytest.fixture
def keywarden_api(entra_settings, oidc_provider):
    """The resource indicator of Keywarden's API (its app registration's api:// URI)."""
    return f"api://{oidc_provider.client_id}"


@pytest.fixture
def pipeline(oidc_provider, payments_team):
    """An application at the provider and its service account: a Payments requester."""
    app = oidc_provider.set_app(roles=["Keywarden.Custodian"])
    account = save_service_account(
        object_id=uuid.UUID(app.object_id),
        username="svc-payments-pipeline",
        display_name="Payments pipeline",
        teams=[payments_team],
        roles=[],
        ctx=AuditContext.system("test"),
    )
    return app, account


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def resigned(token: str, claims: dict | None = None, *, key=None, alg="RS256") -> str:
    """`token` with its payload changed by `claims`, signed by `key` (a key the provider does
    not publish) under the provider's kid."""
    header = jwt.get_unverified_header(token)
    payload = {**jwt.decode(token, options={"verify_signature": False}), **(claims or {})}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": header["kid"]})


def with_payload(token: str, **claims) -> str:
    """`token` with claims changed in its payload and the provider's signature kept."""
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    changed = json.dumps({**decoded, **claims}).encode()
    return ".".join([header, base64.urlsafe_b64encode(changed).rstrip(b"=").decode(), signature])


# --- the service account calls the API ----------------------------------------------------------
def test_app_token_calls_me_as_its_service_account(oidc_provider, keywarden_api, pipeline):
    # given
    app, _ = pipeline
    token = oidc_provider.client_credentials_token(app, resource=keywarden_api)
    # when
    response = bearer(token).get("/api/v1/me/")
    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["username"], body["display_name"]) == (
        "svc-payments-pipeline",
        "Payments pipeline",
    )
    assert body["roles"] == ["requester"]
    assert [team["slug"] for team in body["teams"]] == ["payments"]


def test_app_token_lists_and_submits_requests_as_its_service_account(
    oidc_provider, keywarden_api, pipeline
):
    # given
    app, account = pipeline
    client = bearer(oidc_provider.client_credentials_token(app, resource=keywarden_api))
    # when
    submitted = client.post("/api/v1/requests/", KEY_CREATE, format="json")
    listed = client.get("/api/v1/requests/")
    # then
    assert submitted.status_code == 201
    assert submitted.json()["requester"] == "svc-payments-pipeline"
    assert [row["id"] for row in listed.json()["results"]] == [submitted.json()["id"]]
    event = AuditEvent.objects.get(action="request.submitted")
    assert (event.actor, event.actor_type) == (account, "user")


def test_app_roles_decide_service_account_roles_when_mapped(
    entra_settings, oidc_provider, keywarden_api, pipeline
):
    # given
    entra_settings.ENTRA_APP_ROLES = {
        "custodian": "Keywarden.Custodian",
        "auditor": "Keywarden.Auditor",
    }
    app, account = pipeline
    # when
    granted = bearer(oidc_provider.client_credentials_token(app, resource=keywarden_api))
    roles_after_grant = granted.get("/api/v1/me/").json()["roles"]
    oidc_provider.set_app(app=app, roles=["Keywarden.Auditor"])
    changed = bearer(oidc_provider.client_credentials_token(app, resource=keywarden_api))
    roles_after_change = changed.get("/api/v1/me/").json()["roles"]
    # then
    assert roles_after_grant == ["custodian", "requester"]
    assert roles_after_change == ["auditor", "requester"]
    seal_events()  # into the chain, as the writer's after-commit sealer does
    events = AuditEvent.objects.filter(target_id=str(account.pk), action__startswith="role.")
    assert [(e.action, e.actor_label, e.before, e.after) for e in events.order_by("sequence")] == [
        ("role.granted", "entra-api-token", None, {"role": "custodian"}),
        ("role.revoked", "entra-api-token", {"role": "custodian"}, None),
        ("role.granted", "entra-api-token", None, {"role": "auditor"}),
    ]


def test_stored_roles_stand_while_app_roles_are_not_mapped(
    oidc_provider, keywarden_api, pipeline, payments_team
):
    # given: the token says custodian, but ENTRA_APP_ROLES is empty
    app, account = pipeline
    save_service_account(
        object_id=account.entra_object_id,
        username=account.username,
        display_name="Payments pipeline",
        teams=[payments_team],
        roles=[Role.AUDITOR],
        ctx=AuditContext.system("test"),
    )
    token = oidc_provider.client_credentials_token(app, resource=keywarden_api)
    # when
    response = bearer(token).get("/api/v1/me/")
    # then
    assert response.json()["roles"] == ["auditor", "requester"]


def test_delegated_token_acts_as_the_user_with_that_object_id(
    oidc_provider, keywarden_api, requester
):
    # given: a user token (scp, no idtyp) for alice's Entra account
    requester.entra_object_id = uuid.uuid4()
    requester.save(update_fields=["entra_object_id"])
    app = oidc_provider.set_app(
        token_claims={"idtyp": None, "scp": "access_as_user", "oid": str(requester.entra_object_id)}
    )
    token = oidc_provider.client_credentials_token(app, resource=keywarden_api)
    # when
    response = bearer(token).get("/api/v1/me/")
    # then
    assert response.status_code == 200
    assert response.json()["username"] == "alice"


def test_knox_tokens_keep_working_beside_bearer_tokens(api_client_for, requester, entra_settings):
    assert api_client_for(requester).get("/api/v1/me/").json()["username"] == "alice"


# --- refusals -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("_case", "resource", "token_claims", "detail"),
    [
        (
            "another audience",
            "api://another-api",
            {},
            "The bearer token was issued for another audience.",
        ),
        (
            "another tenant",
            None,
            {"tid": "0b5e0c8e-0000-4000-8000-000000000bad"},
            "The bearer token was issued for another tenant.",
        ),
        (
            "another issuer",
            None,
            {"iss": "https://localhost:1/0b5e0c8e-0000-4000-8000-000000000bad/v2.0"},
            "The bearer token comes from another issuer.",
        ),
        (
            "expired",
            None,
            {"iat": 1_000_000_000, "nbf": 1_000_000_000, "exp": 1_000_003_600},
            "The bearer token has expired.",
        ),
        (
            "not yet valid",
            None,
            {"nbf": 4_000_000_000},
            "The bearer token is not valid yet (nbf/iat).",
        ),
        ("no tenant", None, {"tid": None}, "The bearer token has no tid claim."),
        ("no object id", None, {"oid": None}, "The bearer token has no oid claim."),
    ],
)
def test_validly_signed_token_breaking_a_rule_is_refused(
    _case, resource, token_claims, detail, oidc_provider, keywarden_api, pipeline
):
    # given
    app, _ = pipeline
    oidc_provider.set_app(app=app, token_claims=token_claims)
    token = oidc_provider.client_credentials_token(app, resource=resource or keywarden_api)
    events_before = AuditEvent.objects.count()
    # when
    me = bearer(token).get("/api/v1/me/")
    submitted = bearer(token).post("/api/v1/requests/", KEY_CREATE, format="json")
    # then
    assert (me.status_code, me.json()) == (401, {"detail": detail})
    assert submitted.status_code == 401
    assert ChangeRequest.objects.count() == 0
    assert AuditEvent.objects.count() == events_before


def test_tampered_payload_is_refused(oidc_provider, keywarden_api, pipeline):
    # given: the pipeline's token with someone else's object id, the signature kept
    app, _ = pipeline
    token = oidc_provider.client_credentials_token(app, resource=keywarden_api)
    tampered = with_payload(token, oid=str(uuid.uuid4()), roles=["Keywarden.Admin"])
    # when
    response = bearer(tampered).get("/api/v1/me/")
    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "The bearer token's signature does not verify."}


def test_token_signed_by_an_unpublished_key_is_refused(oidc_provider, keywarden_api, pipeline):
    # given
    app, _ = pipeline
    token = oidc_provider.client_credentials_token(app, resource=keywarden_api)
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # when
    response = bearer(resigned(token, key=impostor)).get("/api/v1/me/")
    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "The bearer token's signature does not verify."}


def test_token_signed_with_a_shared_secret_is_refused(oidc_provider, keywarden_api, pipeline):
    # given
    app, _ = pipeline
    token = oidc_provider.client_credentials_token(app, resource=keywarden_api)
    forged = resigned(token, key="a-shared-secret-of-32-bytes!!!!!", alg="HS256")
    # when
    response = bearer(forged).get("/api/v1/me/")
    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "The bearer token must be signed with RS256."}


def test_unsigned_token_is_refused(oidc_provider, keywarden_api, pipeline):
    # given
    app, _ = pipeline
    token = oidc_provider.client_credentials_token(app, resource=keywarden_api)
    _, payload, _ = token.split(".")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    # when
    response = bearer(f"{none_header}.{payload}.").get("/api/v1/me/")
    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "The bearer token must be signed with RS256."}


def test_token_of_an_unknown_app_is_refused(oidc_provider, keywarden_api, db):
    # given
    app = oidc_provider.set_app(roles=["Keywarden.Admin"])
    token = oidc_provider.client_credentials_token(app, resource=keywarden_api)
    # when
    response = bearer(token).get("/api/v1/me/")
    # then
    assert response.status_code == 401
    assert response.json() == {
        "detail": f"No Keywarden service account is registered for the application "
        f"{app.object_id} (an administrator registers it with manage.py save_service_account)."
    }
    assert User.objects.filter(entra_object_id=app.object_id).exists() is False


def test_app_token_never_acts_as_a_user(oidc_provider, keywarden_api, requester):
    # given: an app whose object id is a (human) user's
    requester.entra_object_id = uuid.uuid4()
    requester.save(update_fields=["entra_object_id"])
    app = oidc_provider.set_app(token_claims={"oid": str(requester.entra_object_id)})
    token = oidc_provider.client_credentials_token(app, resource=keywarden_api)
    # when
    response = bearer(token).get("/api/v1/me/")
    # then
    assert response.status_code == 401


def test_delegated_token_without_keywarden_scope_is_refused(
    oidc_provider, keywarden_api, requester
):
    # given
    requester.entra_object_id = uuid.uuid4()
    requester.save(update_fields=["entra_object_id"])
    app = oidc_provider.set_app(
        token_claims={"idtyp": None, "scp": "User.Read", "oid": str(requester.entra_object_id)}
    )
    token = oidc_provider.client_credentials_token(app, resource=keywarden_api)
    # when
    response = bearer(token).get("/api/v1/me/")
    # then
    assert response.status_code == 401
    assert response.json() == {
        "detail": "The bearer token does not hold Keywarden's access_as_user scope."
    }


def test_disabled_service_account_is_refused(oidc_provider, keywarden_api, pipeline):
    # given
    app, account = pipeline
    User.objects.filter(pk=account.pk).update(is_active=False)
    token = oidc_provider.client_credentials_token(app, resource=keywarden_api)
    # when
    response = bearer(token).get("/api/v1/me/")
    # then
    assert response.status_code == 401
    assert response.json() == {"detail": "The service account svc-payments-pipeline is disabled."}


def test_bearer_token_refused_when_entra_is_not_configured(settings, db):
    settings.ENTRA_CLIENT_ID = ""
    response = bearer("eyJhbGciOiJSUzI1NiJ9.e30.c2ln").get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json() == {
        "detail": "Entra ID bearer tokens are not accepted here (ENTRA_CLIENT_ID is not set)."
    }


def test_garbage_bearer_token_is_refused(entra_settings, db):
    response = bearer("not-a-jwt").get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json() == {"detail": "The bearer token is not a well-formed JWT."}
