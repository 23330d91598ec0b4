from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import filters, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from accounts.models import Team
from audit.context import AuditContext
from core.errors import Invalid, NotFound
from core.filters import StrictSearchFilter
from keys.api.serializers import (
    ManagedKeyDetailSerializer,
    ManagedKeySerializer,
    RotationStandardInputSerializer,
    RotationStandardSerializer,
)
from keys.filters import ManagedKeyFilter
from keys.gateway import HsmError
from keys.models import KEY_NAME_PATTERN, ManagedKey
from keys.selectors import key_detail_for, keys_visible_to, rotation_standards
from keys.services.compliance import update_rotation_standard
from keys.services.public_keys import PUBLIC_KEY_FORMATS, public_key_pem, read_public_key


def team_by_slug(slug: str) -> Team:
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise Invalid({"team": [f"No team {slug!r}."]})
    return team


class JwkRenderer(JSONRenderer):
    """`?format=jwk` (the default): the public JWK with its kid."""

    media_type, format = "application/jwk+json", "jwk"


class PemRenderer(BaseRenderer):
    """`?format=pem`: a `kid:` line, then the SubjectPublicKeyInfo PEM."""

    media_type, format, charset = "application/x-pem-file", "pem", "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return f"kid: {data['kid']}\n{public_key_pem(data)}".encode()


# JWK first (the default); `Accept: application/json` also gets the JWK.
PUBLIC_KEY_RENDERERS = [JwkRenderer, JSONRenderer, PemRenderer]
PUBLIC_KEY_SCHEMA = extend_schema(
    tags=["keys"],
    summary="The public key of an RSA or EC key version (JWK or PEM), read from the HSM",
    parameters=[OpenApiParameter("format", enum=PUBLIC_KEY_FORMATS, default="jwk")],
    responses={
        (200, "application/jwk+json"): dict,
        (200, "application/json"): dict,
        (200, "application/x-pem-file"): str,
        (409, "application/json"): OpenApiResponse(description="The key is deleted."),
        (503, "application/json"): OpenApiResponse(description="The HSM did not answer."),
    },
)


@extend_schema_view(
    list=extend_schema(tags=["keys"], summary="Keys in the HSM inventory you may see"),
    retrieve=extend_schema(tags=["keys"], summary="One key: versions, policy, role assignments"),
)
class ManagedKeyViewSet(viewsets.ReadOnlyModelViewSet):
    """The HSM inventory mirror. Requesters see their teams' keys; other roles see all."""

    lookup_field = "name"
    lookup_value_regex = KEY_NAME_PATTERN
    filterset_class = ManagedKeyFilter
    filter_backends = [
        *viewsets.ReadOnlyModelViewSet.filter_backends,
        StrictSearchFilter,
        filters.OrderingFilter,
    ]
    search_fields = ["name"]
    ordering_fields = ["name", "created_on", "expires_on", "compliance_due_on", "last_rotated_on"]
    ordering = ["name"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return ManagedKey.objects.none()
        return keys_visible_to(self.request.user)

    def get_serializer_class(self):
        return ManagedKeyDetailSerializer if self.action == "retrieve" else ManagedKeySerializer

    def get_object(self):
        return key_detail_for(self.request.user, self.kwargs["name"])

    @PUBLIC_KEY_SCHEMA
    @action(detail=True, url_path="public-key", renderer_classes=PUBLIC_KEY_RENDERERS)
    def public_key(self, request, name=None):
        """The current version's public key."""
        return self._public_key(request, name, version=None)

    @PUBLIC_KEY_SCHEMA
    @action(
        detail=True,
        url_path=r"versions/(?P<version>[0-9a-zA-Z]{1,64})/public-key",
        renderer_classes=PUBLIC_KEY_RENDERERS,
    )
    def version_public_key(self, request, name=None, version=None):
        """One version's public key."""
        return self._public_key(request, name, version=version)

    def _public_key(self, request, name, *, version):
        try:
            public = read_public_key(user=request.user, name=name, version=version)
        except HsmError as error:  # the HSM could not answer: say so, nothing to retry here
            body = {"detail": f"The HSM did not return the public key: {error.message}"}
            return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(public.jwk)

    def perform_content_negotiation(self, request, force=False):
        asked = request.query_params.get("format")
        is_public_key = self.action in ("public_key", "version_public_key")
        if is_public_key and not force and asked and asked not in PUBLIC_KEY_FORMATS:
            raise Invalid({"format": [f"Must be one of: {', '.join(PUBLIC_KEY_FORMATS)}."]})
        return super().perform_content_negotiation(request, force=force)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400:  # errors are JSON whatever the format asked for
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        return response


@extend_schema_view(
    list=extend_schema(
        tags=["rotation standards"], summary="Rotation standards and their team overrides"
    ),
    retrieve=extend_schema(tags=["rotation standards"], summary="One class's standard"),
    update=extend_schema(
        tags=["rotation standards"],
        summary="Set a class's standard, or a team's override of it (admins)",
        request=RotationStandardInputSerializer,
        responses=RotationStandardSerializer,
    ),
)
class RotationStandardViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """How long a key's current version may live, per rotation class (ROTATION.md §1). Every
    signed-in user reads them; admins set them (audited; keys are re-judged at once)."""

    serializer_class = RotationStandardSerializer
    lookup_field = "key_class"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    pagination_class = None

    def get_queryset(self):
        return rotation_standards()

    def get_object(self):
        standard = self.get_queryset().filter(key_class=self.kwargs["key_class"], team=None)
        if not standard.exists():
            raise NotFound(f"No rotation class {self.kwargs['key_class']!r}.")
        return standard.get()

    def update(self, request, key_class=None):
        body = RotationStandardInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        team_slug = values.pop("team", None)
        standard = update_rotation_standard(
            key_class=key_class,
            team=team_by_slug(team_slug) if team_slug else None,
            admin=request.user,
            ctx=AuditContext.from_request(request),
            now=timezone.now(),
            **values,
        )
        return Response(RotationStandardSerializer(standard).data)
