from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import filters, viewsets

from keys.api.serializers import ManagedKeyDetailSerializer, ManagedKeySerializer
from keys.filters import ManagedKeyFilter
from keys.models import KEY_NAME_PATTERN, ManagedKey
from keys.selectors import key_detail_for, keys_visible_to


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
        filters.SearchFilter,
        filters.OrderingFilter,
    ]
    search_fields = ["name"]
    ordering_fields = ["name", "created_on", "expires_on", "rotation_due_on", "last_rotated_on"]
    ordering = ["name"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return ManagedKey.objects.none()
        return keys_visible_to(self.request.user)

    def get_serializer_class(self):
        return ManagedKeyDetailSerializer if self.action == "retrieve" else ManagedKeySerializer

    def get_object(self):
        return key_detail_for(self.request.user, self.kwargs["name"])
