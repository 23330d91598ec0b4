"""Why an Entra ID sign-in was refused: each error carries its HTTP status and advice."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portal.entra.identity import EntraIdentity


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


class AccessTokenRejected(Exception):
    """An API bearer token failed a check; `message` names the rule and is safe to return."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
