"""API edge of the portal app: the error handler every endpoint shares, /me and token sign-in."""

from __future__ import annotations

from axes.utils import reset as reset_sign_in_failures
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import RequestDataTooBig
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from knox.views import LogoutView
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from accounts.roles import Role
from accounts.selectors import teams_of
from approvals.permissions import can_edit_policy
from audit.context import AuditContext
from audit.permissions import can_verify_audit
from core import errors
from core.client_ip import client_ip
from portal.api_tokens import issue_api_token
from portal.middleware import too_large
from portal.sign_in_limits import SignInAddressThrottle, SignInUsernameThrottle

USER_ACTIONS = ("edit_policy", "verify_audit")
_STATUS_FOR = {
    errors.Invalid: status.HTTP_400_BAD_REQUEST,
    errors.NotAllowed: status.HTTP_403_FORBIDDEN,
    errors.NotFound: status.HTTP_404_NOT_FOUND,
    errors.Conflict: status.HTTP_409_CONFLICT,
}


def exception_handler(exc, context):
    """DRF's handler plus domain errors: Invalid → 400 with field errors, NotAllowed → 403,
    NotFound → 404, IllegalTransition/Conflict → 409. Every 400 has one shape:
    `{"detail": "...", "errors": {"field": ["message", ...]}}`."""
    if isinstance(exc, RequestDataTooBig):  # Django's own limit (DATA_UPLOAD_MAX_MEMORY_SIZE)
        return too_large()
    for error_type, code in _STATUS_FOR.items():
        if isinstance(exc, error_type):
            body = {"detail": exc.message}
            if isinstance(exc, errors.Invalid):
                body["errors"] = exc.errors
            return Response(body, status=code)
    response = drf_exception_handler(exc, context)
    if isinstance(exc, exceptions.ValidationError) and response is not None:
        detail = (
            response.data
            if isinstance(response.data, dict)
            else {"non_field_errors": response.data}
        )
        response.data = {"detail": "The input is not valid.", "errors": detail}
    elif response is not None and response.status_code == status.HTTP_400_BAD_REQUEST:
        # e.g. a body that is not JSON: the same shape, the problem on no field in particular
        response.data = {**response.data, "errors": {"non_field_errors": [str(exc.detail)]}}
    return response


class TeamSummarySerializer(serializers.Serializer):
    slug = serializers.SlugField()
    name = serializers.CharField()
    key_prefix = serializers.CharField()


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    display_name = serializers.CharField(source="get_full_name")
    email = serializers.EmailField()
    teams = serializers.SerializerMethodField()
    roles = serializers.SerializerMethodField()
    allowed_actions = serializers.SerializerMethodField(
        help_text="Actions beyond single requests you may take: edit_policy (PATCH "
        "/api/v1/policies/{operation}/), verify_audit (GET, POST /api/v1/audit/verify/)."
    )

    @extend_schema_field(TeamSummarySerializer(many=True))
    def get_teams(self, user) -> list[dict]:
        return TeamSummarySerializer(teams_of(user), many=True).data

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(Role.choices)))
    def get_roles(self, user) -> list[str]:
        return sorted(user.roles)

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(USER_ACTIONS)))
    def get_allowed_actions(self, user) -> list[str]:
        decisions = {"edit_policy": can_edit_policy(user), "verify_audit": can_verify_audit(user)}
        return [name for name in USER_ACTIONS if decisions[name]]


class MeView(APIView):
    """The signed-in user, their teams and portal roles."""

    @extend_schema(responses=MeSerializer, tags=["auth"])
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class TokenInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    expiry = serializers.DateTimeField()


class TokenView(APIView):
    """Exchange a local account's username and password for an API token (only while
    KEYWARDEN_LOCAL_LOGIN is on; automation uses Entra ID bearer tokens instead)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [SignInAddressThrottle, SignInUsernameThrottle]

    @extend_schema(
        request=TokenInputSerializer,
        responses={
            200: TokenSerializer,
            401: OpenApiResponse(description="Wrong username or password."),
            403: OpenApiResponse(
                description="Password sign-in is off, or the user holds the most live tokens."
            ),
        },
        tags=["auth"],
    )
    def post(self, request):
        if not settings.LOCAL_LOGIN_ENABLED:
            raise exceptions.PermissionDenied(
                "Password sign-in is turned off (KEYWARDEN_LOCAL_LOGIN=false). Call the API "
                "with a Microsoft Entra ID access token: Authorization: Bearer <token>."
            )
        body = TokenInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # The Django request: django-axes marks a locked-out sign-in on it for its middleware.
        user = authenticate(request._request, **body.validated_data)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid username or password.")
        # No session sign-in happens here, so django-axes' reset-on-success needs saying.
        reset_sign_in_failures(ip=client_ip(request), username=user.get_username())
        instance, token = issue_api_token(
            user=user, ctx=AuditContext.from_request(request, actor=user)
        )
        return Response({"token": token, "expiry": instance.expiry}, status=status.HTTP_200_OK)

    def get_authenticate_header(self, request):
        return "Token"


class TokenLogoutView(LogoutView):
    """Revoke the API token used for this request."""

    @extend_schema(request=None, responses={204: None}, tags=["auth"])
    def post(self, request, format=None):
        return super().post(request, format)
