from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from approvals import services
from approvals.api.serializers import (
    SUBMIT_REQUEST_SCHEMA,
    ApprovalPolicySerializer,
    ChangeRequestDetailSerializer,
    ChangeRequestSerializer,
    DecisionInputSerializer,
    PolicyInputSerializer,
    SubmitInputSerializer,
)
from approvals.filters import ChangeRequestFilter
from approvals.models import ChangeRequest
from approvals.selectors import request_detail_for, requests_visible_to
from approvals.services.backups import download_backup
from audit.context import AuditContext
from core.paging import KeysFirstPagination
from core.web import UUID_PATTERN

DECISION_RESPONSES = {
    200: ChangeRequestDetailSerializer,
    400: OpenApiResponse(description="Invalid comment"),
    403: OpenApiResponse(description="Not a custodian, or your own request"),
    404: OpenApiResponse(description="No such request that you may see"),
    409: OpenApiResponse(description="Not pending, expired, or you already decided"),
}


@extend_schema_view(
    list=extend_schema(tags=["requests"], summary="Change requests you may see"),
    retrieve=extend_schema(tags=["requests"], summary="One request with approvals and attempts"),
)
class ChangeRequestViewSet(viewsets.ReadOnlyModelViewSet):
    """Submit, follow and decide change requests (PRODUCT.md §6)."""

    filterset_class = ChangeRequestFilter
    pagination_class = KeysFirstPagination  # approval counts for the page's rows only
    lookup_value_regex = UUID_PATTERN  # anything else is not a request id: 404, never a 500

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return ChangeRequest.objects.none()
        # Not visible → 404. Votes prefetched: `allowed_actions` reads them on every row.
        return requests_visible_to(self.request.user).prefetch_related("approvals")

    def get_object(self):
        return request_detail_for(self.request.user, self.kwargs["pk"])

    def get_serializer_class(self):
        return ChangeRequestSerializer if self.action == "list" else ChangeRequestDetailSerializer

    def _detail(self, change, code=status.HTTP_200_OK):
        change = request_detail_for(self.request.user, change.pk)
        return Response(
            ChangeRequestDetailSerializer(change, context=self.get_serializer_context()).data,
            status=code,
        )

    @extend_schema(
        tags=["requests"],
        request=SUBMIT_REQUEST_SCHEMA,
        responses={
            201: ChangeRequestDetailSerializer,
            400: OpenApiResponse(description="Field errors"),
            403: OpenApiResponse(description="Not a member of the team"),
            409: OpenApiResponse(description="Another open request on the key"),
        },
    )
    def create(self, request):
        body = SubmitInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        change = services.submit_request(
            requester=request.user, ctx=AuditContext.from_request(request), **body.validated_data
        )
        return self._detail(change, status.HTTP_201_CREATED)

    def _decide(self, service, request, **extra):
        body = DecisionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        change = service(
            request_id=self.get_object().pk,
            ctx=AuditContext.from_request(request),
            **body.validated_data,
            **extra,
        )
        return self._detail(change)

    @extend_schema(tags=["requests"], request=DecisionInputSerializer, responses=DECISION_RESPONSES)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(services.approve_request, request, custodian=request.user)

    @extend_schema(tags=["requests"], request=DecisionInputSerializer, responses=DECISION_RESPONSES)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(services.reject_request, request, custodian=request.user)

    @extend_schema(tags=["requests"], request=None, responses=DECISION_RESPONSES)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        change = services.cancel_request(
            request_id=self.get_object().pk,
            requester=request.user,
            ctx=AuditContext.from_request(request),
        )
        return self._detail(change)

    @extend_schema(tags=["requests"], request=None, responses=DECISION_RESPONSES)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        change = services.retry_request(
            request_id=self.get_object().pk,
            custodian=request.user,
            ctx=AuditContext.from_request(request),
        )
        return self._detail(change)

    @extend_schema(
        tags=["requests"],
        responses={
            (200, "application/octet-stream"): OpenApiResponse(description="The HSM backup blob"),
            409: OpenApiResponse(description="Not a key.backup request that succeeded."),
        },
    )
    @action(detail=True, methods=["get"])
    def backup(self, request, pk=None):
        """Download a key.backup request's blob (custodians only; audited)."""
        backup = download_backup(
            request_id=self.get_object().pk,
            custodian=request.user,
            ctx=AuditContext.from_request(request),
        )
        response = HttpResponse(bytes(backup.blob), content_type="application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="{backup.key_name}.backup"'
        return response


@extend_schema_view(
    list=extend_schema(tags=["policies"], summary="Approval policy per operation"),
    partial_update=extend_schema(
        tags=["policies"], request=PolicyInputSerializer, summary="Change a policy (admins)"
    ),
)
class ApprovalPolicyViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    serializer_class = ApprovalPolicySerializer
    lookup_field = "operation"
    lookup_value_regex = "[a-z_.]+"
    pagination_class = None
    filter_backends: list = []

    def list(self, request):
        return Response(ApprovalPolicySerializer(services.all_policies(), many=True).data)

    def partial_update(self, request, operation=None):
        body = PolicyInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        policy = services.update_policy(
            operation=operation,
            admin=request.user,
            ctx=AuditContext.from_request(request),
            **body.validated_data,
        )
        return Response(ApprovalPolicySerializer(policy).data)
