"""The API's configuration (settings.REST_FRAMEWORK, SPECTACULAR_SETTINGS): kept apart so the
settings module stays a readable list of environment values."""


def rest_framework_settings(*, browsable: bool, sign_in_rate: str) -> dict:
    """DRF: token (knox, then Entra ID bearer) then session auth, one error shape, a JSON
    parser that refuses documents nested too deep, JSON out (plus the browsable API in the
    demo)."""
    return {
        # Token first: unauthenticated API calls get 401 with `WWW-Authenticate: Token`.
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "knox.auth.TokenAuthentication",
            "portal.entra.authentication.EntraBearerAuthentication",
            "rest_framework.authentication.SessionAuthentication",
        ],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
        "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
        "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
        "PAGE_SIZE": 50,
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
        "EXCEPTION_HANDLER": "portal.api.exception_handler",
        "DEFAULT_PARSER_CLASSES": [
            "core.parsers.JSONParser",
            "rest_framework.parsers.FormParser",
            "rest_framework.parsers.MultiPartParser",
        ],
        "DEFAULT_THROTTLE_RATES": {"sign-in": sign_in_rate, "sign-in-username": sign_in_rate},
        # Throttles key on core.client_ip; DRF's own default, should one appear, on REMOTE_ADDR.
        "NUM_PROXIES": 0,
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
        + (["rest_framework.renderers.BrowsableAPIRenderer"] if browsable else []),
    }


API_SCHEMA_SETTINGS = {
    "TITLE": "Keywarden API",
    "DESCRIPTION": "Self-service key lifecycle for Azure Key Vault Managed HSM.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Swagger UI and Redoc from the drf-spectacular-sidecar package: no CDN on a closed network.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "portal.api_schema.document_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "RequestStateEnum": "approvals.models.State",
        "KeyStateEnum": "keys.models.KeyState",
        "RequestActionEnum": "approvals.permissions.REQUEST_ACTIONS",
        "UserActionEnum": "portal.api.USER_ACTIONS",
    },
}
