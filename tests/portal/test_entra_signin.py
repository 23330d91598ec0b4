"""Entra ID sign-in end to end: Django's test client, MSAL and a real OpenID Connect provider
(node-oidc-provider over HTTPS, `oidc_provider`) with scripted dev-interaction logins."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.auth.signals import user_login_failed
from django.contrib.sessions.models import Session
from django.test import Client

from accounts.models import Membership, RoleGrant, User
from accounts.roles import Role
from tests.conftest import PASSWORD
from tests.factories import UserFactory
from tests.support.oidc import ProviderBrowser

AUTH_SESSION_KEYS = {"_auth_user_id", "_auth_user_backend", "_auth_user_hash", "entra_signed_in"}


@dataclass(frozen=True)
class Account:
    account_id: str
    object_id: str
    username: str


@pytest.fixture
def entra_account(oidc_provider):
    """`entra_account(groups=[...], **claims)` → a fresh account at the provider; a claim given
    as None is left out of its tokens."""

    def make(*, signed_by="provider", **claims) -> Account:
        account_id = f"user-{uuid.uuid4().hex[:10]}"
        account = Account(account_id, str(uuid.uuid4()), f"{account_id}@contoso.example")
        defaults = {
            "oid": account.object_id,
            "tid": oidc_provider.tenant_id,
            "preferred_username": account.username,
            "name": "Ada Lovelace",
            "email": account.username,
            "groups": [],
        }
        merged = {**defaults, **claims}
        present = {name: value for name, value in merged.items() if value is not None}
        oidc_provider.set_account(account_id, present, signed_by=signed_by)
        return account

    return make


@pytest.fixture
def payments_group(payments_team):
    """The Entra group whose members are the Payments team."""
    payments_team.entra_group_id = uuid.uuid4()
    payments_team.save(update_fields=["entra_group_id"])
    return str(payments_team.entra_group_id)


@pytest.fixture
def key_rollover(oidc_provider):
    """`key_rollover()` makes the tenant publish its next signing key (until the test ends)."""
    yield lambda: oidc_provider.publish_rollover_key(True)
    oidc_provider.publish_rollover_key(False)


@pytest.fixture
def failed_sign_ins():
    """Credentials of every `user_login_failed` signal sent during the test."""
    captured = []

    def receiver(sender, credentials, request=None, **kwargs):
        captured.append(credentials)

    user_login_failed.connect(receiver)
    yield captured
    user_login_failed.disconnect(receiver)


def provider_callback(client, oidc_provider, account: Account, **login_params) -> str:
    """Start at /auth/entra/login/, sign in at the provider; the callback URL, not yet opened."""
    start = client.get("/auth/entra/login/", login_params)
    return ProviderBrowser(oidc_provider).sign_in(start["Location"], account.account_id)


def sign_in(client, oidc_provider, account: Account, **login_params):
    return client.get(provider_callback(client, oidc_provider, account, **login_params))


def me(client) -> dict:
    response = client.get("/api/v1/me/")
    assert response.status_code == 200
    body = response.json()
    return {"roles": body["roles"], "teams": [team["slug"] for team in body["teams"]]}


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    return parts._replace(query=urlencode({**query, **changes})).geturl()


# --- the flow -----------------------------------------------------------------------------------
def test_sign_in_starts_with_pkce_state_and_nonce(entra_settings, oidc_provider, client, db):
    # when
    response = client.get("/auth/entra/login/")
    # then
    authorize = urlsplit(response["Location"])
    query = parse_qs(authorize.query)
    assert response.status_code == 302
    assert (
        f"{authorize.scheme}://{authorize.netloc}{authorize.path}"
        == (oidc_provider.discovery()["authorization_endpoint"])
    )
    assert query["client_id"] == [oidc_provider.client_id]
    assert query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["http://testserver/auth/entra/callback/"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 16
    assert len(query["nonce"][0]) == 64
    assert sorted(query["scope"][0].split()) == ["email", "openid", "profile"]


def test_requester_signs_in_through_team_group(
    entra_settings, oidc_provider, entra_account, payments_group, client
):
    # given
    account = entra_account(groups=[payments_group, str(uuid.uuid4())])
    # when
    response = sign_in(client, oidc_provider, account)
    # then
    user = User.objects.get(entra_object_id=account.object_id)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(user.pk)
    assert me(client) == {"roles": ["requester"], "teams": ["payments"]}
    assert (user.username, user.email, user.get_full_name()) == (
        account.username,
        account.username,
        "Ada Lovelace",
    )
    assert user.has_usable_password() is False


@pytest.mark.parametrize(
    ("_case", "role"),
    [("custodian", Role.CUSTODIAN), ("admin", Role.ADMIN), ("auditor", Role.AUDITOR)],
)
def test_role_comes_from_mapped_group(
    _case, role, entra_settings, oidc_provider, entra_account, client, db
):
    # given
    account = entra_account(groups=[entra_settings.ENTRA_ROLE_GROUPS[role].upper()])
    # when
    response = sign_in(client, oidc_provider, account)
    # then
    assert response.status_code == 302
    assert me(client) == {"roles": [role], "teams": []}


def test_next_sign_in_applies_removed_group(
    entra_settings, oidc_provider, entra_account, payments_group, client
):
    # given
    custodians = entra_settings.ENTRA_ROLE_GROUPS["custodian"]
    account = entra_account(groups=[payments_group, custodians])
    sign_in(client, oidc_provider, account)
    assert me(client) == {"roles": ["custodian", "requester"], "teams": ["payments"]}
    oidc_provider.set_account(
        account.account_id,
        {
            "oid": account.object_id,
            "tid": oidc_provider.tenant_id,
            "preferred_username": account.username,
            "groups": [payments_group],
        },
    )
    # when
    response = sign_in(client, oidc_provider, account)
    # then
    assert response.status_code == 302
    assert me(client) == {"roles": ["requester"], "teams": ["payments"]}
    assert User.objects.filter(entra_object_id=account.object_id).count() == 1


def test_user_removed_from_every_group_loses_access_and_is_not_signed_in(
    entra_settings, oidc_provider, entra_account, payments_group, client, failed_sign_ins
):
    # given
    account = entra_account(groups=[payments_group, entra_settings.ENTRA_ROLE_GROUPS["admin"]])
    sign_in(client, oidc_provider, account)
    client.post("/accounts/logout/")
    oidc_provider.set_account(
        account.account_id,
        {"oid": account.object_id, "tid": oidc_provider.tenant_id, "groups": []},
    )
    # when
    response = sign_in(client, oidc_provider, account)
    # then
    user = User.objects.get(entra_object_id=account.object_id)
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session
    assert Membership.objects.filter(user=user).exists() is False
    assert RoleGrant.objects.filter(user=user).exists() is False
    assert (user.username, user.email, user.get_full_name()) == (
        account.username,
        account.username,
        "Ada Lovelace",
    )
    assert failed_sign_ins == [{"username": account.object_id}]


def test_account_without_mapped_groups_gets_no_access_page(
    entra_settings, oidc_provider, entra_account, client, db, failed_sign_ins
):
    # given
    account = entra_account(groups=[str(uuid.uuid4()), "not-a-guid"])
    users_before = User.objects.count()
    # when
    response = sign_in(client, oidc_provider, account)
    # then
    page = response.content.decode()
    assert response.status_code == 403
    assert response.templates[0].name == "portal/no_access.html"
    assert f"<strong>{account.username}</strong>" in page
    assert account.object_id in page
    assert "ask the owner of your team" in page
    assert "_auth_user_id" not in client.session
    assert User.objects.count() == users_before
    assert failed_sign_ins == [{"username": account.username}]


# --- refusals -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("_case", "change"),
    [
        ("tampered state", {"state": "forged-by-an-attacker"}),
        ("missing state", {"state": ""}),
        ("other issuer", {"iss": "https://login.example.net/evil/v2.0"}),
    ],
)
def test_tampered_callback_is_refused(
    _case,
    change,
    entra_settings,
    oidc_provider,
    entra_account,
    payments_group,
    client,
    failed_sign_ins,
):
    # given
    account = entra_account(groups=[payments_group])
    callback = with_query(provider_callback(client, oidc_provider, account), **change)
    # when
    response = client.get(callback)
    # then
    assert response.status_code == 400
    assert response.templates[0].name == "portal/sign_in_error.html"
    assert "_auth_user_id" not in client.session
    assert User.objects.filter(entra_object_id=account.object_id).exists() is False
    assert failed_sign_ins == []


def test_tampered_state_message_and_flow_used_up(
    entra_settings, oidc_provider, entra_account, payments_group, client
):
    # given
    account = entra_account(groups=[payments_group])
    callback = provider_callback(client, oidc_provider, account)
    refused = client.get(with_query(callback, state="forged-by-an-attacker"))
    # when
    genuine = client.get(callback)
    # then
    assert refused.status_code == 400
    assert "does not belong to the sign-in this browser started" in refused.content.decode()
    assert genuine.status_code == 400
    assert "No sign-in is in progress" in genuine.content.decode()
    assert "_auth_user_id" not in client.session


def test_replayed_callback_is_refused(
    entra_settings, oidc_provider, entra_account, payments_group, client
):
    # given
    account = entra_account(groups=[payments_group])
    callback = provider_callback(client, oidc_provider, account)
    first = client.get(callback)
    client.post("/accounts/logout/")
    # when
    replay = client.get(callback)
    # then
    assert first.status_code == 302
    assert replay.status_code == 400
    assert "_auth_user_id" not in client.session


def test_callback_from_another_browser_is_refused(
    entra_settings, oidc_provider, entra_account, payments_group, client, django_user_model
):
    # given: the attacker's own callback, planted in a victim's browser (login CSRF)
    account = entra_account(groups=[payments_group])
    attackers_callback = provider_callback(Client(), oidc_provider, account)
    # when
    response = client.get(attackers_callback)
    # then
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session
    assert django_user_model.objects.filter(entra_object_id=account.object_id).exists() is False


def test_error_from_provider_is_shown_and_nobody_signed_in(
    entra_settings, oidc_provider, client, db
):
    # given
    start = client.get("/auth/entra/login/")
    callback = ProviderBrowser(oidc_provider).sign_in(start["Location"], "", abort=True)
    # when
    response = client.get(callback)
    # then
    assert response.status_code == 400
    assert "refused the sign-in: access_denied. End-User aborted interaction" in (
        response.content.decode()
    )
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("_case", "signed_by", "claims", "message"),
    [
        ("forged signature", "impostor", {}, "failed verification (InvalidSignatureError)"),
        ("unpublished key", "impostor-unknown-kid", {}, "signed by an unknown key"),
        ("other tenant", "provider", {"tid": str(uuid.uuid4())}, "belongs to another tenant"),
    ],
)
def test_id_token_that_fails_verification_is_refused(
    _case,
    signed_by,
    claims,
    message,
    entra_settings,
    oidc_provider,
    entra_account,
    payments_group,
    client,
    failed_sign_ins,
):
    # given: MSAL accepts these tokens (iss, aud, exp and nonce are right)
    account = entra_account(groups=[payments_group], signed_by=signed_by, **claims)
    # when
    response = sign_in(client, oidc_provider, account)
    # then
    assert response.status_code == 400
    assert message in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert User.objects.filter(entra_object_id=account.object_id).exists() is False
    assert failed_sign_ins == [{"username": account.username}]


def test_sign_in_survives_signing_key_rollover(
    entra_settings, oidc_provider, entra_account, payments_group, key_rollover, client
):
    # given: the portal cached the tenant's keys, then the tenant starts signing with a new one
    earlier = entra_account(groups=[payments_group])
    assert sign_in(Client(), oidc_provider, earlier).status_code == 302
    key_rollover()
    account = entra_account(groups=[payments_group], signed_by="rollover")
    # when
    response = sign_in(client, oidc_provider, account)
    # then
    assert response.status_code == 302
    assert me(client) == {"roles": ["requester"], "teams": ["payments"]}


@pytest.mark.parametrize(
    ("_case", "claims", "message"),
    [
        ("no object id", {"oid": None}, "no valid object id (oid) claim"),
        ("object id not a guid", {"oid": "12345"}, "no valid object id (oid) claim"),
        ("groups not a list", {"groups": "payments"}, "groups claim is malformed"),
        ("group not a string", {"groups": [{"id": 1}]}, "groups claim is malformed"),
    ],
)
def test_malformed_claims_are_refused_without_a_stack_trace(
    _case, claims, message, entra_settings, oidc_provider, entra_account, client, db
):
    # given
    account = entra_account(**claims)
    # when
    response = sign_in(client, oidc_provider, account)
    # then
    assert response.status_code == 400
    assert message in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_group_overage_explains_group_filtering(
    entra_settings, oidc_provider, entra_account, client, db, failed_sign_ins
):
    # given: too many groups, so Entra ID names a Graph source instead of listing them
    account = entra_account(
        groups=None,
        _claim_names={"groups": "src1"},
        _claim_sources={"src1": {"endpoint": "https://graph.microsoft.com/v1.0/me/memberOf"}},
    )
    # when
    response = sign_in(client, oidc_provider, account)
    # then
    page = response.content.decode()
    assert response.status_code == 403
    assert "Too many groups for the sign-in token" in page
    assert "configure group filtering for the Keywarden app registration" in page
    assert "_auth_user_id" not in client.session
    assert User.objects.filter(entra_object_id=account.object_id).exists() is False
    assert failed_sign_ins == [{"username": account.username}]


def test_entra_account_never_takes_over_a_local_username(
    entra_settings, oidc_provider, entra_account, payments_group, client
):
    # given
    local = UserFactory(username="alice")
    account = entra_account(groups=[payments_group], preferred_username="alice")
    # when
    response = sign_in(client, oidc_provider, account)
    # then
    local.refresh_from_db()
    assert response.status_code == 400
    assert "belongs to another Keywarden account" in response.content.decode()
    assert local.entra_object_id is None
    assert "_auth_user_id" not in client.session


def test_disabled_user_is_not_signed_in(
    entra_settings, oidc_provider, entra_account, payments_group, client
):
    # given
    account = entra_account(groups=[payments_group])
    sign_in(client, oidc_provider, account)
    client.post("/accounts/logout/")
    User.objects.filter(entra_object_id=account.object_id).update(is_active=False)
    # when
    response = sign_in(client, oidc_provider, account)
    # then
    assert response.status_code == 403
    assert "Your Keywarden account is disabled" in response.content.decode()
    assert "_auth_user_id" not in client.session


# --- where sign-in leads, local sign-in, sign-out -------------------------------------------------
@pytest.mark.parametrize(
    ("_case", "next_url", "expected"),
    [
        ("same site", "/api/docs/?tab=1", "/api/docs/?tab=1"),
        ("off site", "https://evil.example/steal", "/"),
        ("scheme relative", "//evil.example/steal", "/"),
        ("javascript", "javascript:alert(1)", "/"),
    ],
)
def test_next_is_honoured_only_on_this_site(
    _case, next_url, expected, entra_settings, oidc_provider, entra_account, payments_group, client
):
    # given
    account = entra_account(groups=[payments_group])
    # when
    response = sign_in(client, oidc_provider, account, next=next_url)
    # then
    assert response.status_code == 302
    assert response["Location"] == expected


def test_sign_in_page_links_entra_with_next(entra_settings, client, db):
    # when
    response = client.get("/accounts/login/", {"next": "/api/docs/"})
    # then
    assert 'href="/auth/entra/login/?next=/api/docs/"' in response.content.decode()


def test_local_sign_in_refused_while_entra_works(
    entra_settings, oidc_provider, entra_account, payments_group, requester, client
):
    # given
    entra_settings.LOCAL_LOGIN_ENABLED = False
    account = entra_account(groups=[payments_group])
    # when
    local = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    entra = sign_in(client, oidc_provider, account)
    # then
    assert local.status_code == 404
    assert entra.status_code == 302
    assert me(client) == {"roles": ["requester"], "teams": ["payments"]}


def test_sign_in_404_when_entra_not_configured(settings, client, db):
    # given
    settings.ENTRA_CLIENT_ID = ""
    # when
    responses = [client.get("/auth/entra/login/"), client.get("/auth/entra/callback/")]
    # then
    assert [r.status_code for r in responses] == [404, 404]


def test_sign_out_clears_session_and_ends_entra_session(
    entra_settings, oidc_provider, entra_account, payments_group, client
):
    # given
    account = entra_account(groups=[payments_group])
    sign_in(client, oidc_provider, account)
    end_session = oidc_provider.discovery()["end_session_endpoint"]
    # when
    response = client.post("/accounts/logout/")
    # then
    assert response.status_code == 302
    assert response["Location"] == end_session + "?" + urlencode(
        {
            "client_id": oidc_provider.client_id,
            "post_logout_redirect_uri": "http://testserver/accounts/login/",
        }
    )
    assert ProviderBrowser(oidc_provider).session.get(response["Location"]).status_code == 200
    assert client.get("/api/v1/me/").status_code == 401
    assert dict(client.session) == {}


def test_sign_out_stays_local_without_post_logout_redirect(
    entra_settings, oidc_provider, entra_account, payments_group, client
):
    # given
    entra_settings.ENTRA_POST_LOGOUT_REDIRECT_URI = ""
    account = entra_account(groups=[payments_group])
    sign_in(client, oidc_provider, account)
    # when
    response = client.post("/accounts/logout/")
    # then
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert dict(client.session) == {}


# --- nothing of the flow or the tokens reaches the browser ---------------------------------------
def test_flow_and_tokens_stay_on_the_server(
    entra_settings, oidc_provider, entra_account, payments_group, client
):
    # given
    account = entra_account(groups=[payments_group])
    start = client.get("/auth/entra/login/")
    pending_key = client.cookies["sessionid"].value
    flow = client.session["entra_pending_sign_in"]["flow"]
    callback = ProviderBrowser(oidc_provider).sign_in(start["Location"], account.account_id)
    # when
    client.get(callback)
    # then
    session_key = client.cookies["sessionid"].value
    stored = Session.objects.get(session_key=session_key).get_decoded()
    assert set(client.cookies) <= {"sessionid", "csrftoken"}
    assert len(session_key) == 32
    assert session_key != pending_key
    assert flow["code_verifier"] not in start["Location"]
    assert set(stored) == AUTH_SESSION_KEYS
    assert "eyJ" not in str(stored)


def test_sign_in_never_becomes_a_service_account(
    entra_settings, oidc_provider, entra_account, payments_group, client
):
    # given: a service account registered for the same object id
    account = entra_account(groups=[payments_group])
    service_account = UserFactory(
        username="svc-pay", entra_object_id=uuid.UUID(account.object_id), is_service_account=True
    )
    # when
    response = sign_in(client, oidc_provider, account)
    # then
    assert response.status_code == 400
    assert "_auth_user_id" not in client.session
    assert Membership.objects.filter(user=service_account).exists() is False
