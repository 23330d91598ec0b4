"""Posture API: findings (admins, custodians, auditors; 403 for others), accepting a risk, and
the posture check (latest run; POST starts one, run by a worker)."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.context import AuditContext
from posture.api.serializers import (
    AcceptRiskInputSerializer,
    FindingSerializer,
    PostureRunSerializer,
)
from posture.filters import FindingFilter
from posture.fixes import fixes_for
from posture.models import Finding
from posture.permissions import can_view_posture
from posture.selectors import findings_ordered, latest_run
from posture.services import accept_risk, request_evaluation


class MayViewPosture(permissions.BasePermission):
    """`can_view_posture`; its refusal reason is the 403's detail."""

    def has_permission(self, request, view) -> bool:
        decision = can_view_posture(request.user)
        if not decision:
            self.message = decision.reason
        return bool(decision)


@extend_schema_view(
    list=extend_schema(
        tags=["posture"],
        summary="HSM posture findings (admins, custodians, auditors)",
        description="Filter with `severity`, `rule`, `state` (open, accepted, resolved).",
    ),
    retrieve=extend_schema(tags=["posture"], summary="One posture finding"),
)
class FindingViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = FindingSerializer
    filterset_class = FindingFilter
    permission_classes = [permissions.IsAuthenticated, MayViewPosture]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Finding.objects.none()
        return findings_ordered()

    def get_serializer(self, *args, **kwargs):
        if args and not isinstance(args[0], dict):
            rows = args[0] if isinstance(args[0], list) else [args[0]]
            kwargs.setdefault("context", self.get_serializer_context())
            kwargs["context"]["fixes"] = fixes_for([r for r in rows if isinstance(r, Finding)])
        return super().get_serializer(*args, **kwargs)

    @extend_schema(
        tags=["posture"],
        summary="Accept a finding as a risk until an expiry (admins, custodians)",
        request=AcceptRiskInputSerializer,
        responses={
            200: FindingSerializer,
            400: OpenApiResponse(description="No reason, or an expiry in the past or too far"),
            403: OpenApiResponse(description="Not an admin or custodian"),
            409: OpenApiResponse(description="The finding is resolved"),
        },
    )
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        body = AcceptRiskInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        finding = accept_risk(
            finding_id=self.get_object().pk,
            user=request.user,
            now=timezone.now(),
            ctx=AuditContext.from_request(request),
            **body.validated_data,
        )
        return Response(self.get_serializer(finding).data)


class PostureCheckView(APIView):
    """The latest posture check (GET) and starting one now (POST, admins and custodians)."""

    permission_classes = [permissions.IsAuthenticated, MayViewPosture]

    @extend_schema(
        tags=["posture"],
        summary="The latest posture check, finished or running",
        responses={200: PostureRunSerializer, 404: OpenApiResponse(description="None yet")},
    )
    def get(self, request):
        run = latest_run()
        if run is None:
            raise NotFound("No posture check has run yet; POST to start one.")
        return Response(PostureRunSerializer(run).data)

    @extend_schema(
        tags=["posture"],
        summary="Start a posture check now (a worker runs it; poll GET for progress)",
        request=None,
        responses={
            202: PostureRunSerializer,
            403: OpenApiResponse(description="Not an admin or custodian"),
            409: OpenApiResponse(description="A posture check is already running"),
        },
    )
    def post(self, request):
        run = request_evaluation(
            user=request.user, now=timezone.now(), ctx=AuditContext.from_request(request)
        )
        return Response(PostureRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
