from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import filters, mixins, viewsets
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
from keys.models import KEY_NAME_PATTERN, ManagedKey
from keys.selectors import key_detail_for, keys_visible_to, rotation_standards
from keys.services.compliance import update_rotation_standard


def team_by_slug(slug: str) -> Team:
    team = Team.objects.filter(slug=slug).first()
    if team is None:
        raise Invalid({"team": [f"No team {slug!r}."]})
    return team


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
