"""EmulatorCredential: an azure-core TokenCredential whose tokens the emulator accepts.

It mints unsigned JWTs (``alg: none``) carrying ``oid``, ``tid``, ``aud``, ``iat``, ``nbf`` and
``exp``; the emulator identifies the caller by ``oid``. Never use it against a real HSM.
"""

from __future__ import annotations

import time
from typing import Any

from azure.core.credentials import AccessToken, AccessTokenInfo

from hsm_emulator import DEFAULT_TENANT_ID, RESOURCE
from hsm_emulator.tokens import encode_unsigned_jwt

DEFAULT_LIFETIME_SECONDS = 2 * 3600


def mint_token(
    object_id: str,
    *,
    tenant_id: str = DEFAULT_TENANT_ID,
    audience: str = RESOURCE,
    issued_at: int | None = None,
    lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    """An unsigned JWT for ``object_id``; ``issued_at``/``lifetime_seconds`` allow expired ones."""
    start = int(time.time()) if issued_at is None else issued_at
    claims: dict[str, Any] = {
        "aud": audience,
        "iss": f"https://sts.windows.net/{tenant_id}/",
        "iat": start,
        "nbf": start,
        "exp": start + lifetime_seconds,
        "oid": object_id,
        "sub": object_id,
        "tid": tenant_id,
    }
    claims.update(extra_claims or {})
    return encode_unsigned_jwt(claims)


def _audience_for(scopes: tuple[str, ...]) -> str:
    # The SDK asks for "<resource>/.default"; the token's audience is that resource.
    if not scopes:
        return RESOURCE
    scope = scopes[0]
    return scope[: -len("/.default")] if scope.endswith("/.default") else scope


class EmulatorCredential:
    """TokenCredential (and SupportsTokenInfo) for the emulator; one instance per principal.

    ``tenant_id=None`` uses the tenant from the HSM's challenge (passed by the SDK) or the
    emulator's default tenant. ``audience`` overrides the audience derived from the scope, and
    ``lifetime_seconds`` may be negative to mint expired tokens for tests.
    """

    def __init__(
        self,
        object_id: str,
        tenant_id: str | None = None,
        *,
        audience: str | None = None,
        lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
    ) -> None:
        self.object_id = object_id
        self.tenant_id = tenant_id
        self._audience = audience
        self._lifetime = lifetime_seconds

    def _mint(self, scopes: tuple[str, ...], tenant_hint: str | None) -> tuple[str, int]:
        tenant = self.tenant_id or tenant_hint or DEFAULT_TENANT_ID
        issued = int(time.time())
        token = mint_token(
            self.object_id,
            tenant_id=tenant,
            audience=self._audience or _audience_for(scopes),
            issued_at=issued,
            lifetime_seconds=self._lifetime,
        )
        return token, issued + self._lifetime

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """Return a fresh token for ``scopes`` (claims/CAE are accepted and ignored)."""
        token, expires_on = self._mint(scopes, tenant_id)
        return AccessToken(token, expires_on)

    def get_token_info(
        self, *scopes: str, options: dict[str, Any] | None = None
    ) -> AccessTokenInfo:
        """SupportsTokenInfo variant preferred by azure-core's bearer policies."""
        token, expires_on = self._mint(scopes, (options or {}).get("tenant_id"))
        return AccessTokenInfo(token, expires_on, token_type="Bearer")  # noqa: S106

    def close(self) -> None:
        """Nothing to release; present for the TokenCredential protocol."""

    def __enter__(self) -> EmulatorCredential:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
