"""The report's query parameters, parsed once for the page, the CSV and the API."""

from __future__ import annotations

from django.utils import timezone

from reports.selectors import ReportScope, report_scope
from reports.serializers import ReportQuerySerializer


def scope_from_query(request) -> ReportScope:
    """The report scope from `?team=&class=&now=` (now: the current time when absent). Raises
    ValidationError (bad shape), NotFound (a team the user cannot see), Invalid (unknown
    class)."""
    query = ReportQuerySerializer(data=request.GET)
    query.is_valid(raise_exception=True)
    data = query.validated_data
    return report_scope(
        request.user,
        team=data.get("team"),
        key_class=data.get("class"),
        now=data.get("now") or timezone.now(),
    )
