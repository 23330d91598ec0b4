"""Sign-in with Microsoft Entra ID: MSAL's authorization-code flow plus our own ID token checks.

MSAL does PKCE, state and nonce, but does not verify the ID token's signature; `EntraClient`
verifies it against the tenant's published keys (and iss, aud, exp, tid) before any claim is
used. Group claims then decide teams and roles on every sign-in (`provision_entra_user`).
Only the pending flow is kept, in the server-side session; tokens are dropped after sign-in.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase

from accounts.models import User
from portal.entra.client import EntraClient, EntraConfig, get_entra_client, is_configured
from portal.entra.constants import CLOCK_SKEW_SECONDS, FLOW_SESSION_KEY, SIGNED_IN_SESSION_KEY
from portal.entra.errors import (
    AccountDisabled,
    EntraSignInError,
    GroupOverage,
    NoAccess,
    ProviderUnavailable,
    SignInRejected,
)
from portal.entra.identity import EntraIdentity, access_for_groups, provision_entra_user


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


__all__ = [
    "CLOCK_SKEW_SECONDS",
    "FLOW_SESSION_KEY",
    "SIGNED_IN_SESSION_KEY",
    "AccountDisabled",
    "EntraClient",
    "EntraConfig",
    "EntraIdentity",
    "EntraSignInError",
    "GroupOverage",
    "NoAccess",
    "ProviderUnavailable",
    "SignIn",
    "SignInRejected",
    "access_for_groups",
    "complete_sign_in",
    "end_session_url",
    "get_entra_client",
    "is_configured",
    "provision_entra_user",
    "start_sign_in",
]
