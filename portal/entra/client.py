"""MSAL's authorization-code flow and our own ID token verification (JWKS, iss, aud, exp, tid)."""

from __future__ import annotations

import functools
import logging
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import msal
import requests
from django.conf import settings

from portal.entra.constants import CLOCK_SKEW_SECONDS
from portal.entra.errors import (
    AccessTokenRejected,
    ProviderUnavailable,
    SignInRejected,
)

logger = logging.getLogger(__name__)

ACCESS_TOKEN_ALGORITHM = "RS256"  # noqa: S105 (a JWS algorithm, not a secret)
# Which rule a bearer token broke, by PyJWT's error (the most specific first: subclasses).
_ACCESS_TOKEN_RULES: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "The bearer token has expired."),
    (jwt.ImmatureSignatureError, "The bearer token is not valid yet (nbf/iat)."),
    (jwt.InvalidAudienceError, "The bearer token was issued for another audience."),
    (jwt.InvalidSignatureError, "The bearer token's signature does not verify."),
    (jwt.InvalidAlgorithmError, "The bearer token must be signed with RS256."),
    (jwt.DecodeError, "The bearer token is not a well-formed JWT."),
)


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

    def verify_access_token(self, token: str, *, audiences: list[str]) -> dict[str, Any]:
        """Claims of an API access token: RS256 by a published key of the tenant, for one of
        `audiences`, unexpired and not before nbf (small leeway), from the tenant's v2.0 issuer
        with the configured `tid`. Raises AccessTokenRejected naming the rule broken."""
        if not self.config.tenant_id:
            raise AccessTokenRejected("Bearer tokens need ENTRA_TENANT_ID to be set.")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ACCESS_TOKEN_ALGORITHM:
                raise AccessTokenRejected("The bearer token must be signed with RS256.")
            kid = header.get("kid")
            key = self._signing_key(kid) if isinstance(kid, str) else None
            if key is None:
                raise AccessTokenRejected("The bearer token is signed by an unknown key.")
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[ACCESS_TOKEN_ALGORITHM],
                audience=audiences,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": ["iss", "aud", "exp", "iat", "tid", "oid"]},
            )
        except jwt.MissingRequiredClaimError as exc:
            raise AccessTokenRejected(f"The bearer token has no {exc.claim} claim.") from exc
        except jwt.PyJWTError as exc:
            message = next(
                (text for error, text in _ACCESS_TOKEN_RULES if isinstance(exc, error)),
                f"The bearer token failed verification ({type(exc).__name__}).",
            )
            raise AccessTokenRejected(message) from exc
        if str(claims["tid"]).lower() != self.config.tenant_id:
            raise AccessTokenRejected("The bearer token was issued for another tenant.")
        if claims["iss"] != self.metadata()["issuer"].replace("{tenantid}", self.config.tenant_id):
            raise AccessTokenRejected("The bearer token comes from another issuer.")
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
