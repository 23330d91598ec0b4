"""Microsoft Entra ID (MSAL) sign-in and API bearer tokens."""

from django.core.exceptions import ImproperlyConfigured

from core.env import env_bool, env_int, env_list, env_map, env_str

# --- Microsoft Entra ID (MSAL) ------------------------------------------------------------------
ENTRA_TENANT_ID = env_str("ENTRA_TENANT_ID")
ENTRA_CLIENT_ID = env_str("ENTRA_CLIENT_ID")
ENTRA_CLIENT_SECRET = env_str("ENTRA_CLIENT_SECRET")
ENTRA_AUTHORITY = env_str(
    "ENTRA_AUTHORITY",
    f"https://login.microsoftonline.com/{ENTRA_TENANT_ID}" if ENTRA_TENANT_ID else "",
)
ENTRA_REDIRECT_URI = env_str("ENTRA_REDIRECT_URI")
# custodian=<group-id>,admin=<group-id>,auditor=<group-id>; team groups live on Team.
ENTRA_ROLE_GROUPS = env_map("ENTRA_ROLE_GROUPS")
if set(ENTRA_ROLE_GROUPS) - {"custodian", "admin", "auditor"}:
    raise ImproperlyConfigured(
        "ENTRA_ROLE_GROUPS roles must be custodian, admin or auditor "
        f"(requester follows from team groups), got {sorted(ENTRA_ROLE_GROUPS)}"
    )
# CA bundle for the identity provider (tests' local provider); empty = the system trust store.
ENTRA_CA_FILE = env_str("ENTRA_CA_FILE")
# MSAL's authority validation; off only for a non-Microsoft (test) OpenID Connect provider.
ENTRA_VALIDATE_AUTHORITY = env_bool("ENTRA_VALIDATE_AUTHORITY", True)
# Scopes beyond openid and profile (which MSAL always asks for); no refresh tokens are requested.
ENTRA_SCOPES = env_list("ENTRA_SCOPES", "email")
# Set (e.g. https://keywarden.example.com/accounts/login/, registered on the app) to also end
# the Entra ID session on sign-out; empty = sign out of Keywarden only.
ENTRA_POST_LOGOUT_REDIRECT_URI = env_str("ENTRA_POST_LOGOUT_REDIRECT_URI")
ENTRA_TIMEOUT_SECONDS = env_int("ENTRA_TIMEOUT_SECONDS", 10)
# API bearer tokens (portal.entra.authentication): the audiences accepted (empty = the client id
# and api://<client id>), the scope a delegated user token must hold, and app roles → portal
# roles for service accounts (custodian=Keywarden.Custodian,...; empty = the roles that
# `manage.py save_service_account` granted).
ENTRA_API_AUDIENCES = env_list("ENTRA_API_AUDIENCES")
ENTRA_API_SCOPE = env_str("ENTRA_API_SCOPE", "access_as_user")
ENTRA_APP_ROLES = env_map("ENTRA_APP_ROLES")
if set(ENTRA_APP_ROLES) - {"custodian", "admin", "auditor"}:
    raise ImproperlyConfigured(
        f"ENTRA_APP_ROLES roles must be custodian, admin or auditor, got {sorted(ENTRA_APP_ROLES)}"
    )
if ENTRA_CLIENT_ID and not (ENTRA_CLIENT_SECRET and ENTRA_AUTHORITY):
    raise ImproperlyConfigured(
        "ENTRA_CLIENT_ID is set but ENTRA_CLIENT_SECRET or ENTRA_TENANT_ID/ENTRA_AUTHORITY is "
        "not: Entra ID sign-in needs the app registration's tenant, client id and secret."
    )
