"""API of the rotation dashboard: `GET /api/v1/reports/rotation/` (the page's numbers as JSON)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from reports.query import scope_from_query
from reports.selectors import rotation_report
from reports.serializers import ReportQuerySerializer, RotationReportSerializer


class RotationReportView(APIView):
    """Rotation compliance of the keys you may see (ROTATION.md §6): tiles with inventory links,
    per-team table, age histogram, 90-day trend, the next 30 days, recent schedule runs and
    approval service levels. Requesters see their teams only; another team answers 404."""

    @extend_schema(
        tags=["reports"],
        summary="The rotation dashboard's numbers",
        parameters=[ReportQuerySerializer],
        responses=RotationReportSerializer,
    )
    def get(self, request):
        report = rotation_report(scope_from_query(request))
        return Response(RotationReportSerializer(report).data)
