"""HTML of the rotation dashboard (`/rotation/`) and its CSV export of the key-level table."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.http import StreamingHttpResponse
from django.shortcuts import render
from rest_framework.exceptions import ValidationError

from accounts.selectors import teams_visible_to
from core.errors import Invalid
from core.web import domain_errors, role_required
from keys.models import ComplianceState
from reports import charts
from reports.exports import csv_lines, key_table_rows
from reports.query import scope_from_query
from reports.selectors import STATES, rotation_report


def _bad_query(request, errors: dict):
    context = {"errors": {field: list(messages) for field, messages in errors.items()}}
    return render(request, "reports/bad_query.html", context, status=400)


def scoped(view):
    """Call `view(request, scope)` with the scope of `?team=&class=&now=`, or answer 400."""

    @wraps(view)
    def with_scope(request):
        try:
            scope = scope_from_query(request)
        except ValidationError as error:
            return _bad_query(request, error.detail)
        except Invalid as error:
            return _bad_query(request, error.errors)
        return view(request, scope)

    return with_scope


@role_required()
@domain_errors
@scoped
def rotation_dashboard(request, scope):
    """The dashboard for `?team=&class=&now=`: tiles, charts with their tables, lists."""
    report = rotation_report(scope)
    context = {
        "report": report,
        "scope": scope,
        "teams": teams_visible_to(request.user),
        "query": urlencode(scope.query),
        "tiles": {tile["name"]: tile for tile in report["tiles"]},
        "state_labels": [(state, ComplianceState(state).label) for state in STATES],
        "histogram_chart": charts.histogram_chart(report["age_histogram"]),
        "trend_chart": charts.trend_chart(report["trend"]),
        "team_chart": charts.team_bars_chart(report["teams"], STATES),
    }
    return render(request, "reports/rotation.html", context)


@role_required()
@domain_errors
@scoped
def rotation_key_table_csv(request, scope):
    """Every key in scope with its compliance, as CSV (formula-injection-safe cells)."""
    response = StreamingHttpResponse(
        csv_lines(key_table_rows(scope)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = 'attachment; filename="rotation-compliance.csv"'
    return response
