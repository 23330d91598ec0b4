"""HTML pages of the audit trail: the filtered, paged event list and verification runs.

Exports are the API's streaming endpoints (/api/v1/audit/export.csv and .jsonl), linked with
the page's current filters; session sign-in works for them.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from audit.filters import AuditEventFilter
from audit.permissions import can_verify_audit
from audit.selectors import events_visible_to, latest_verification, newest_first
from audit.verification import VerificationAlreadyRunning, request_verification
from core.web import (
    conflict_page,
    is_filtered,
    permitted_by,
    query_without,
    role_required,
    tidy_filter_form,
)

PAGE_SIZE = 50


def _older(rows: list) -> int | None:
    """Where the next page starts: before the page's last event. None when the page's last
    event is not sealed yet (more than a page waits for the sealer, for seconds): no link
    then, rather than a query more per page."""
    if len(rows) <= PAGE_SIZE:
        return None
    return rows[PAGE_SIZE - 1].sequence


@role_required()
def audit_trail(request):
    """Events the user may see, newest first, `PAGE_SIZE` at a time before `?before=<seq>`:
    keyset paging, so a long trail costs neither a COUNT nor an OFFSET scan."""
    filterset = AuditEventFilter(request.GET, queryset=events_visible_to(request.user))
    events = newest_first(filterset.qs)
    before = request.GET.get("before", "")
    if before.isdigit():
        events = events.filter(sequence__lt=int(before))
    rows = list(events[: PAGE_SIZE + 1])
    filters = query_without(request, ("before", "page"))
    context = {
        "filter_form": tidy_filter_form(filterset.form),
        "is_filtered": is_filtered(filterset.form),
        "events": rows[:PAGE_SIZE],
        "older": _older(rows),
        "is_first_page": not before.isdigit(),
        "filters": filters,
        "may_verify": bool(can_verify_audit(request.user)),
    }
    return render(request, "audit/audit_trail.html", context)


@permitted_by(can_verify_audit)
@require_http_methods(["GET", "POST"])
def audit_verify(request):
    """The latest verification run (its result, or its progress while it runs); POST starts a
    new one (`full` from event 1), walked by a worker, never in the request."""
    if request.method == "POST":
        try:
            request_verification(
                user=request.user, now=timezone.now(), full=request.POST.get("full") == "on"
            )
        except VerificationAlreadyRunning as error:
            return conflict_page(request, error, back=reverse("trail:verify"))
        messages.success(request, "Verification started: a worker walks the chain now.")
        return redirect("trail:verify")
    return render(request, "audit/verify.html", {"run": latest_verification()})


@permitted_by(can_verify_audit)
@require_GET
def audit_verify_live(request):
    """The run card of the verification page, polled by static/js/live-status.js while it runs."""
    return render(request, "audit/_verify_live.html", {"run": latest_verification()})
