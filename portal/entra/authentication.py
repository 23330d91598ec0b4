"""DRF authentication with Microsoft Entra ID access tokens: `Authorization: Bearer <token>`
for pipelines and other automation (client-credentials grant) and for delegated callers."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from portal.entra.api_principals import api_audiences, principal_for_claims
from portal.entra.client import get_entra_client, is_configured
from portal.entra.errors import AccessTokenRejected, ProviderUnavailable

KEYWORD = b"bearer"


class EntraUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "Microsoft Entra ID could not be reached to verify the bearer token."
    default_code = "entra_unavailable"


class EntraBearerAuthentication(BaseAuthentication):
    """A signed Entra ID access token for Keywarden's app registration (portal.entra.client
    checks signature, algorithm, audience, issuer, tenant, expiry) → its service account or
    user. Any other Authorization scheme is left to the next authenticator; a bearer token
    that fails is a 401 naming the rule, never a fall-through."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != KEYWORD:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "Malformed Authorization header: send `Bearer <access token>`."
            )
        if not is_configured():
            raise exceptions.AuthenticationFailed(
                "Entra ID bearer tokens are not accepted here (ENTRA_CLIENT_ID is not set)."
            )
        try:
            token = parts[1].decode("ascii")
            claims = get_entra_client().verify_access_token(token, audiences=api_audiences())
            user = principal_for_claims(claims)
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(
                "The bearer token is not a well-formed JWT."
            ) from None
        except AccessTokenRejected as error:
            raise exceptions.AuthenticationFailed(error.message) from error
        except ProviderUnavailable as error:
            raise EntraUnavailable() from error
        return user, claims

    def authenticate_header(self, request):
        return 'Bearer realm="keywarden"'


class EntraBearerScheme(OpenApiAuthenticationExtension):
    """The `entraBearer` security scheme in the OpenAPI document."""

    target_class = "portal.entra.authentication.EntraBearerAuthentication"
    name = "entraBearer"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": (
                "A Microsoft Entra ID access token for Keywarden's app registration (audience "
                "its client id or api://<client id>, RS256, tenant ENTRA_TENANT_ID). App-only "
                "tokens (client-credentials grant) act as the service account registered for "
                "the service principal's object id; delegated tokens (scope ENTRA_API_SCOPE) as "
                "the user with that object id."
            ),
        }
