from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from audit.context import AuditContext
from notifications import services
from notifications.api.serializers import InboxItemSerializer, InboxReadInputSerializer
from notifications.models import Delivery
from notifications.selectors import inbox_of, unread_count

READ_RESULT = inline_serializer(
    "InboxReadResult",
    {"marked": serializers.IntegerField(), "unread": serializers.IntegerField()},
)


class InboxViewSet(viewsets.ReadOnlyModelViewSet):
    """The signed-in user's own inbox (another user's item: 404)."""

    serializer_class = InboxItemSerializer
    lookup_value_regex = r"\d+"  # anything else is not an item id: 404

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Delivery.objects.none()
        return inbox_of(self.request.user)

    @extend_schema(request=InboxReadInputSerializer, responses=READ_RESULT)
    @action(detail=False, methods=["post"])
    def read(self, request):
        """Mark the listed items (or, without `ids`, all of them) read."""
        body = InboxReadInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        marked = services.mark_read(
            user=request.user,
            delivery_ids=body.validated_data.get("ids"),
            now=timezone.now(),
            ctx=AuditContext.from_request(request),
        )
        return Response({"marked": marked, "unread": unread_count(request.user)})
