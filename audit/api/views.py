"""Audit API: list (scoped by role), verification runs, streaming CSV / JSON Lines exports."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, pagination, permissions, status, viewsets
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from audit import exports
from audit.api.serializers import (
    AuditEventSerializer,
    VerificationInputSerializer,
    VerificationRunSerializer,
)
from audit.filters import AuditEventFilter
from audit.models import AuditEvent
from audit.permissions import can_verify_audit
from audit.selectors import events_visible_to, latest_verification
from audit.verification import request_verification


class AuditEventCursorPagination(pagination.CursorPagination):
    # Insertion order: unique and never changing (an event's sequence comes when it is sealed).
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class MayVerifyAuditTrail(permissions.BasePermission):
    """`can_verify_audit`; its refusal reason is the 403's detail."""

    def has_permission(self, request, view) -> bool:
        decision = can_verify_audit(request.user)
        if not decision:
            self.message = decision.reason
        return bool(decision)


class VisibleEventsMixin:
    filterset_class = AuditEventFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return AuditEvent.objects.none()
        return events_visible_to(self.request.user)


SCOPE = (
    "Auditors and admins see every event; requesters their teams' events; custodians also "
    "every event about a change request or a key."
)


@extend_schema_view(
    list=extend_schema(
        tags=["audit"], summary="Audit events you may see, newest first", description=SCOPE
    ),
    retrieve=extend_schema(
        tags=["audit"], summary="One audit event by sequence number", description=SCOPE
    ),
)
class AuditEventViewSet(VisibleEventsMixin, viewsets.ReadOnlyModelViewSet):
    """Events scoped by `events_visible_to`; filters in `AuditEventFilter`; cursor-paginated."""

    serializer_class = AuditEventSerializer
    pagination_class = AuditEventCursorPagination
    lookup_field = "sequence"
    lookup_value_regex = r"\d+"


class ChainVerifyView(APIView):
    """The latest verification run (GET) and starting a new one (POST): the chain is walked by
    a worker (`audit.verification`), never in the request."""

    permission_classes = [permissions.IsAuthenticated, MayVerifyAuditTrail]

    @extend_schema(
        operation_id="audit_verify",
        summary="The latest verification of the audit chain (auditors and admins)",
        description="Answers at once from the newest run, finished or running (progress in "
        "`events_checked` of `to_sequence - from_sequence`); POST starts a new run.",
        responses={
            200: VerificationRunSerializer,
            403: OpenApiResponse(description="Not an auditor or admin"),
            404: OpenApiResponse(description="No verification has run yet"),
        },
        tags=["audit"],
    )
    def get(self, request):
        run = latest_verification()
        if run is None:
            raise NotFound("No verification has run yet; POST to start one.")
        return Response(VerificationRunSerializer(run).data)

    @extend_schema(
        operation_id="audit_verify_start",
        summary="Start a verification of the audit chain (auditors and admins)",
        description="Incremental from the last verified run or signed checkpoint; `full` "
        "re-checks every event. Poll GET for progress and result.",
        request=VerificationInputSerializer,
        responses={
            202: VerificationRunSerializer,
            403: OpenApiResponse(description="Not an auditor or admin"),
            409: OpenApiResponse(description="A verification is already running"),
        },
        tags=["audit"],
    )
    def post(self, request):
        body = VerificationInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        run = request_verification(user=request.user, now=timezone.now(), **body.validated_data)
        return Response(VerificationRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class AuditExportView(VisibleEventsMixin, generics.GenericAPIView):
    """Stream the visible, filtered events as a file, oldest first, in constant memory."""

    export_format = "csv"
    pagination_class = None

    def perform_content_negotiation(self, request, force=False):
        # The body is a file whatever Accept says; error bodies stay JSON instead of a 406.
        return super().perform_content_negotiation(request, force=True)

    def get(self, request):
        events = self.filter_queryset(self.get_queryset())
        filename = exports.export_filename(self.export_format, now=timezone.now())
        content_type = exports.FORMATS[self.export_format]
        response = StreamingHttpResponse(
            exports.write_lines(events, self.export_format),
            content_type=f"{content_type}; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class CsvExportView(AuditExportView):
    export_format = "csv"

    @extend_schema(
        operation_id="audit_export_csv",
        summary="Download events as CSV (oldest first, same filters and scope as the list)",
        responses={(200, "text/csv"): OpenApiTypes.STR},
        filters=True,
        tags=["audit"],
    )
    def get(self, request):
        return super().get(request)


class JsonLinesExportView(AuditExportView):
    export_format = "jsonl"

    @extend_schema(
        operation_id="audit_export_jsonl",
        summary="Download events as JSON Lines, re-verifiable offline with audit.chain",
        responses={(200, "application/jsonl"): OpenApiTypes.STR},
        filters=True,
        tags=["audit"],
    )
    def get(self, request):
        return super().get(request)
