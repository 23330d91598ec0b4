"""HTML pages of the audit trail: the filtered, paged event list and chain verification.

Exports are the API's streaming endpoints (/api/v1/audit/export.csv and .jsonl), linked with
the page's current filters; session sign-in works for them.
"""

from __future__ import annotations

from django.shortcuts import render

from audit.filters import AuditEventFilter
from audit.permissions import can_verify_audit
from audit.selectors import events_visible_to, verify_chain
from core.web import is_filtered, permitted_by, query_without, role_required, tidy_filter_form

PAGE_SIZE = 50


@role_required()
def audit_trail(request):
    """Events the user may see, newest first, `PAGE_SIZE` at a time before `?before=<seq>`:
    keyset paging, so a long trail costs neither a COUNT nor an OFFSET scan."""
    filterset = AuditEventFilter(request.GET, queryset=events_visible_to(request.user))
    events = filterset.qs.order_by("-sequence")
    before = request.GET.get("before", "")
    if before.isdigit():
        events = events.filter(sequence__lt=int(before))
    rows = list(events[: PAGE_SIZE + 1])
    filters = query_without(request, ("before", "page"))
    context = {
        "filter_form": tidy_filter_form(filterset.form),
        "is_filtered": is_filtered(filterset.form),
        "events": rows[:PAGE_SIZE],
        "older": rows[PAGE_SIZE - 1].sequence if len(rows) > PAGE_SIZE else None,
        "is_first_page": not before.isdigit(),
        "filters": filters,
        "may_verify": bool(can_verify_audit(request.user)),
    }
    return render(request, "audit/audit_trail.html", context)


@permitted_by(can_verify_audit)
def audit_verify(request):
    """Walk the whole chain (`verify_chain`) and show whether it is intact."""
    return render(request, "audit/verify.html", {"report": verify_chain()})
