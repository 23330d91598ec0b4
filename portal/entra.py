"""Sign-in with Microsoft Entra ID: MSAL's authorization-code flow plus our own ID token checks.

MSAL does PKCE, state and nonce, but does not verify the ID token's signature; `EntraClient`
verifies it against the tenant's published keys (and iss, aud, exp, tid) before any claim is
used. Group claims then decide teams and roles on every sign-in (`provision_entra_user`).
Only the pending flow is kept, in the server-side session; tokens are dropped after sign-in.
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import msal
import requests
from django.conf import settings
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from portal.models import Team, User
from portal.services import set_user_access

logger = logging.getLogger(__name__)

FLOW_SESSION_KEY = "entra_pending_sign_in"
SIGNED_IN_SESSION_KEY = "entra_signed_in"
CLOCK_SKEW_SECONDS = 120


# --- errors -------------------------------------------------------------------------------------
class EntraSignInError(Exception):
    """Sign-in refused; `message` is safe to show. `username` is set once the provider named
    the account (after the token exchange), so the failure can be audited under that name."""

    status = 400
    title = "Sign-in failed"
    advice = (
        "No one has been signed in. Start again from the sign-in page; if this keeps happening, "
        "tell a Keywarden administrator what the message above says."
    )

    def __init__(self, message: str, *, username: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.username = username


class SignInRejected(EntraSignInError):
    """The callback or the ID token did not pass a check (state, provider error, signature…)."""


class ProviderUnavailable(EntraSignInError):
    status = 503
    title = "Microsoft Entra ID is unreachable"


class GroupOverage(EntraSignInError):
    status = 403
    title = "Too many groups for the sign-in token"
    advice = (
        "No one has been signed in. An administrator must configure group filtering for the "
        "Keywarden app registration in Microsoft Entra ID: under Token configuration, emit only "
        "groups assigned to the application in the ID token, and assign the team and role "
        "groups to the Keywarden enterprise application."
    )


class AccountDisabled(EntraSignInError):
    status = 403
    title = "Account disabled"


class NoAccess(EntraSignInError):
    """Signed in at Entra ID, but no group of the account maps to a Keywarden team or role."""

    status = 403
    title = "No access to Keywarden"

    def __init__(self, identity: EntraIdentity) -> None:
        super().__init__(
            "Your account is in no Entra ID group that Keywarden maps to a team or role.",
            username=identity.username,
        )
        self.identity = identity


# --- configuration and the per-process client ----------------------------------------------------
@dataclass(frozen=True)
class EntraConfig:
    tenant_id: str
    client_id: str
    client_secret: str = field(repr=False)
    authority: str
    validate_authority: bool
    ca_file: str
    scopes: tuple[str, ...]
    timeout: int

    @classmethod
    def from_settings(cls) -> EntraConfig:
        return cls(
            tenant_id=settings.ENTRA_TENANT_ID.lower(),
            client_id=settings.ENTRA_CLIENT_ID,
            client_secret=settings.ENTRA_CLIENT_SECRET,
            authority=settings.ENTRA_AUTHORITY.rstrip("/"),
            validate_authority=settings.ENTRA_VALIDATE_AUTHORITY,
            ca_file=settings.ENTRA_CA_FILE,
            scopes=tuple(settings.ENTRA_SCOPES),
            timeout=settings.ENTRA_TIMEOUT_SECONDS,
        )


def is_configured() -> bool:
    return bool(settings.ENTRA_CLIENT_ID and settings.ENTRA_AUTHORITY)


def get_entra_client() -> EntraClient:
    """The process's client for the configured tenant, built on first use (no I/O until then)."""
    return _client_for(EntraConfig.from_settings())


@functools.lru_cache(maxsize=4)
def _client_for(config: EntraConfig) -> EntraClient:
    return EntraClient(config)


class _HttpSession(requests.Session):
    """requests with a default timeout; trusts exactly ENTRA_CA_FILE when one is set (with
    trust_env on, REQUESTS_CA_BUNDLE would silently override `verify`)."""

    def __init__(self, config: EntraConfig) -> None:
        super().__init__()
        self.timeout = config.timeout
        if config.ca_file:
            self.trust_env = False
            self.verify = config.ca_file

    def request(self, method, url, **kwargs):
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, **kwargs)


class _NoTokenCache(msal.TokenCache):
    """Keywarden needs the ID token once, at sign-in: MSAL keeps no access or refresh token."""

    def add(self, event, **kwargs):
        return None


class EntraClient:
    """MSAL for the flow; discovery document and JWKS (cached, refreshed on an unknown kid)
    for verifying ID tokens. Thread-safe; one per process and configuration."""

    def __init__(self, config: EntraConfig) -> None:
        self.config = config
        self._http = _HttpSession(config)
        self._lock = threading.Lock()
        self._app: msal.ConfidentialClientApplication | None = None
        self._metadata: dict[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}

    def initiate_flow(self, redirect_uri: str) -> dict[str, Any]:
        """A new auth-code flow (PKCE S256, random state and nonce) for the session."""
        with warnings.catch_warnings():
            # MSAL recommends form_post; the provider's cross-site POST would arrive without
            # the SameSite=Lax session cookie that holds the flow. The code in the query is
            # single-use, PKCE-bound and redeemable only with the client secret.
            warnings.simplefilter("ignore", UserWarning)
            return self._msal().initiate_auth_code_flow(
                list(self.config.scopes), redirect_uri=redirect_uri, response_mode="query"
            )

    def redeem(self, flow: dict[str, Any], auth_response: dict[str, str]) -> dict[str, Any]:
        """Check the callback against the flow, redeem the code and return the ID token's
        claims after verifying it. Raises SignInRejected, ProviderUnavailable."""
        if "iss" in auth_response and auth_response["iss"] != self.metadata()["issuer"]:
            raise SignInRejected("The sign-in response came from an unexpected issuer.")
        try:
            result = self._msal().acquire_token_by_auth_code_flow(flow, auth_response)
        except ValueError as exc:  # state mismatch, neither code nor error
            raise SignInRejected(
                "The sign-in response does not belong to the sign-in this browser started."
            ) from exc
        except RuntimeError as exc:  # the ID token's nonce is not this flow's
            raise SignInRejected("The ID token was not issued for this sign-in.") from exc
        except requests.RequestException as exc:
            raise ProviderUnavailable("Microsoft Entra ID could not be reached.") from exc
        if "error" in result:
            description = str(result.get("error_description") or "")[:500]
            raise SignInRejected(
                f"Microsoft Entra ID refused the sign-in: {result['error']}. {description}".strip()
            )
        id_token = result.get("id_token")
        unverified = result.get("id_token_claims") or {}
        claimed_name = str(unverified.get("preferred_username") or unverified.get("oid") or "")
        if not isinstance(id_token, str):
            raise SignInRejected("Microsoft Entra ID returned no ID token.", username=claimed_name)
        return self.verify_id_token(id_token, username=claimed_name[:150])

    def verify_id_token(self, id_token: str, *, username: str = "") -> dict[str, Any]:
        """Claims of a token signed by a published key of the tenant, for this client, unexpired,
        from the expected issuer (and tenant when ENTRA_TENANT_ID is set); else SignInRejected."""
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
            key = self._signing_key(kid) if isinstance(kid, str) else None
            if key is None:
                raise SignInRejected("The ID token is signed by an unknown key.", username=username)
            claims = jwt.decode(
                id_token,
                key=key.key,
                algorithms=[key.algorithm_name],
                audience=self.config.client_id,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise SignInRejected(
                f"The ID token failed verification ({type(exc).__name__}).", username=username
            ) from exc
        tenant = str(claims.get("tid", "")).lower()
        if self.config.tenant_id and tenant != self.config.tenant_id:
            raise SignInRejected("The account belongs to another tenant.", username=username)
        # Multi-tenant metadata publishes ".../{tenantid}/v2.0" as its issuer template.
        issuer = self.metadata()["issuer"].replace("{tenantid}", tenant)
        if claims["iss"] != issuer:
            raise SignInRejected("The ID token comes from another issuer.", username=username)
        return claims

    def end_session_url(self, post_logout_redirect_uri: str) -> str | None:
        """The provider's sign-out URL returning to `post_logout_redirect_uri`; None if unknown."""
        try:
            endpoint = self.metadata().get("end_session_endpoint")
        except ProviderUnavailable:
            logger.warning("entra.end_session_unavailable")
            return None
        if not isinstance(endpoint, str):
            return None
        query = urlencode(
            {
                "client_id": self.config.client_id,
                "post_logout_redirect_uri": post_logout_redirect_uri,
            }
        )
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    def metadata(self) -> dict[str, Any]:
        """The tenant's OpenID discovery document (fetched once per process)."""
        with self._lock:
            if self._metadata is None:
                document = self._get_json(
                    f"{self.config.authority}/v2.0/.well-known/openid-configuration"
                )
                if not all(isinstance(document.get(k), str) for k in ("issuer", "jwks_uri")):
                    raise ProviderUnavailable("The identity provider's metadata is incomplete.")
                self._metadata = document
            return self._metadata

    def _signing_key(self, kid: str) -> jwt.PyJWK | None:
        """The published key `kid`; the key set is fetched again once when `kid` is unknown."""
        jwks_uri = self.metadata()["jwks_uri"]
        with self._lock:
            if kid not in self._keys:
                try:
                    key_set = jwt.PyJWKSet.from_dict(self._get_json(jwks_uri))
                except jwt.PyJWKSetError as exc:
                    raise ProviderUnavailable("The identity provider publishes no keys.") from exc
                self._keys = {
                    key.key_id: key
                    for key in key_set.keys
                    if key.key_id and key.public_key_use in (None, "sig")
                }
            return self._keys.get(kid)

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self._http.get(url)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            logger.warning("entra.fetch_failed", extra={"url": url, "error": str(exc)})
            raise ProviderUnavailable("Microsoft Entra ID could not be reached.") from exc
        if not isinstance(document, dict):
            raise ProviderUnavailable("The identity provider answered with unexpected data.")
        return document

    def _msal(self) -> msal.ConfidentialClientApplication:
        with self._lock:
            if self._app is None:
                try:
                    self._app = msal.ConfidentialClientApplication(
                        self.config.client_id,
                        client_credential=self.config.client_secret,
                        authority=self.config.authority,
                        validate_authority=self.config.validate_authority,
                        http_client=self._http,
                        token_cache=_NoTokenCache(),
                        exclude_scopes=["offline_access"],
                    )
                except (requests.RequestException, ValueError) as exc:
                    logger.warning("entra.msal_init_failed", extra={"error": str(exc)})
                    raise ProviderUnavailable("Microsoft Entra ID could not be reached.") from exc
            return self._app


# --- identity and access --------------------------------------------------------------------------
@dataclass(frozen=True)
class EntraIdentity:
    """The verified claims Keywarden uses: who the account is and which groups it is in."""

    object_id: uuid.UUID
    preferred_username: str  # "" when absent or unusable as a username
    display_name: str
    email: str
    group_ids: frozenset[str]

    @property
    def username(self) -> str:
        return self.preferred_username or str(self.object_id)

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> EntraIdentity:
        """Raises SignInRejected for malformed claims, GroupOverage when groups were left out."""
        try:
            object_id = uuid.UUID(str(claims.get("oid")))
        except ValueError:
            raise SignInRejected("The ID token has no valid object id (oid) claim.") from None
        preferred_username = _text_claim(claims, "preferred_username")
        try:
            UnicodeUsernameValidator()(preferred_username)
        except ValidationError:
            preferred_username = ""  # absent, or with characters usernames refuse
        preferred_username = preferred_username if len(preferred_username) <= 150 else ""
        username = preferred_username or str(object_id)
        names = claims.get("_claim_names")
        if (isinstance(names, dict) and "groups" in names) or claims.get("hasgroups") is True:
            raise GroupOverage(
                "Your account is in more groups than Microsoft Entra ID puts into a sign-in "
                "token, so Keywarden cannot tell which of them grant access.",
                username=username,
            )
        groups = claims.get("groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise SignInRejected("The ID token's groups claim is malformed.", username=username)
        email = _text_claim(claims, "email")
        try:
            validate_email(email)
        except ValidationError:
            email = ""
        return cls(
            object_id=object_id,
            preferred_username=preferred_username,
            display_name=_text_claim(claims, "name")[:150],
            email=email[:254],
            group_ids=frozenset(g.strip().lower() for g in groups),
        )


def _text_claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    return value.strip() if isinstance(value, str) else ""


def access_for_groups(group_ids: frozenset[str]) -> tuple[list[Team], set[str]]:
    """Teams whose Entra group is in `group_ids`, and roles ENTRA_ROLE_GROUPS maps them to."""
    team_groups = []
    for group_id in group_ids:
        try:
            team_groups.append(uuid.UUID(group_id))
        except ValueError:
            continue  # not an object id (e.g. sAMAccountName group claims): maps to no team
    teams = list(Team.objects.filter(entra_group_id__in=team_groups))
    roles = {
        role
        for role, group_id in settings.ENTRA_ROLE_GROUPS.items()
        if group_id.strip().lower() in group_ids
    }
    return teams, roles


@transaction.atomic
def provision_entra_user(*, identity: EntraIdentity) -> User | None:
    """Find or create the user by object id and make their teams and roles exactly what their
    groups map to. None when that is nothing: no user is created, an existing one loses all
    access. Raises AccountDisabled, SignInRejected (username owned by another account)."""
    teams, roles = access_for_groups(identity.group_ids)
    user = User.objects.select_for_update().filter(entra_object_id=identity.object_id).first()
    if user is not None and not user.is_active:
        raise AccountDisabled(
            "Your Keywarden account is disabled. Ask a Keywarden administrator to enable it.",
            username=identity.username,
        )
    if user is None and not (teams or roles):
        return None
    username_taken = (
        User.objects.filter(username=identity.username).exclude(pk=getattr(user, "pk", None))
    ).exists()
    if user is None:
        if username_taken:  # never link to an account that Entra ID does not own
            raise SignInRejected(
                f"The username {identity.username} belongs to another Keywarden account. "
                "Ask a Keywarden administrator to resolve the clash.",
                username=identity.username,
            )
        user = User(entra_object_id=identity.object_id, username=identity.username)
        user.set_unusable_password()
    elif identity.preferred_username and not username_taken:
        user.username = identity.preferred_username  # a renamed account follows its UPN
    # Claims a token leaves out keep the values an earlier sign-in stored.
    user.first_name, user.last_name = identity.display_name or user.get_full_name(), ""
    user.email = identity.email or user.email
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # the same account signing in twice at once
        raise SignInRejected("Please sign in again.", username=identity.username) from None
    set_user_access(user=user, teams=teams, roles=roles)
    return user if (teams or roles) else None


# --- the sign-in use cases ------------------------------------------------------------------------
@dataclass(frozen=True)
class SignIn:
    user: User
    next_url: str


def start_sign_in(*, session: SessionBase, redirect_uri: str, next_url: str) -> str:
    """Begin a sign-in: keep the new flow (state, nonce, PKCE verifier) and where to go after in
    the server-side session, and return the provider's authorize URL for the browser."""
    flow = get_entra_client().initiate_flow(redirect_uri)
    session[FLOW_SESSION_KEY] = {"flow": flow, "next": next_url}
    return flow["auth_uri"]


def complete_sign_in(*, session: SessionBase, auth_response: dict[str, str]) -> SignIn:
    """Finish the sign-in the session started with the provider's callback parameters.

    The pending flow is used up first, so a replayed callback finds none. Raises SignInRejected,
    ProviderUnavailable, GroupOverage, AccountDisabled, NoAccess; nobody is signed in by this."""
    pending = session.pop(FLOW_SESSION_KEY, None)
    flow = pending.get("flow") if isinstance(pending, dict) else None
    if not isinstance(flow, dict):
        raise SignInRejected("No sign-in is in progress in this browser (or it was used already).")
    claims = get_entra_client().redeem(flow, auth_response)
    identity = EntraIdentity.from_claims(claims)
    user = provision_entra_user(identity=identity)
    if user is None:
        raise NoAccess(identity)
    return SignIn(user=user, next_url=str(pending.get("next") or "/"))


def end_session_url() -> str | None:
    """Where to send the browser to end its Entra ID session too (ENTRA_POST_LOGOUT_REDIRECT_URI
    set), or None to sign out of Keywarden only."""
    if not (is_configured() and settings.ENTRA_POST_LOGOUT_REDIRECT_URI):
        return None
    return get_entra_client().end_session_url(settings.ENTRA_POST_LOGOUT_REDIRECT_URI)
