"""The posture page (`/posture/`): findings with filters, fix actions and risk acceptance, and
the posture check with its progress (polled by static/js/live-status.js)."""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.context import AuditContext
from core.errors import Conflict, Invalid
from core.web import (
    conflict_page,
    domain_errors,
    is_filtered,
    paginate,
    permitted_by,
    query_without,
    tidy_filter_form,
)
from posture.filters import FindingFilter
from posture.fixes import fixes_for
from posture.models import MAX_REASON_LENGTH, Finding, RunStatus
from posture.permissions import can_accept_risk, can_request_evaluation, can_view_posture
from posture.selectors import finding_counts, findings_ordered, latest_run
from posture.services import EvaluationAlreadyRunning, accept_risk, request_evaluation


class AcceptRiskForm(forms.Form):
    reason = forms.CharField(max_length=MAX_REASON_LENGTH, widget=forms.Textarea(attrs={"rows": 2}))
    expires_at = forms.DateTimeField(
        label="Accepted until (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )


def _check_context(now: datetime) -> dict:
    run = latest_run()
    return {"run": run, "now": now, "is_running": bool(run and run.status == RunStatus.RUNNING)}


@permitted_by(can_view_posture)
def posture_page(request):
    """Findings (unresolved first, high → low), filtered by `FindingFilter`, paged."""
    return _page(request)


def _page(request, *, failed: tuple[int, AcceptRiskForm] | None = None, status: int = 200):
    """The page; `failed`: a finding whose acceptance was refused, shown with its form."""
    now = timezone.now()
    filterset = FindingFilter(request.GET, queryset=findings_ordered())
    page = paginate(request, filterset.qs)
    findings = list(page.object_list)
    fixes = fixes_for(findings)
    failed_pk, failed_form = failed or (None, None)
    context = {
        **_check_context(now),
        "rows": [
            (
                f,
                f.state_at(now),
                fixes.get(f.pk, []),
                failed_form if f.pk == failed_pk else AcceptRiskForm(auto_id=f"accept-{f.pk}-%s"),
                f.pk == failed_pk,
            )
            for f in findings
        ],
        "page": page,
        "counts": finding_counts(now=now),
        "filter_form": tidy_filter_form(filterset.form),
        "is_filtered": is_filtered(filterset.form),
        "query": query_without(request),
        "may_check": bool(can_request_evaluation(request.user)),
        "may_accept": bool(can_accept_risk(request.user)),
    }
    return render(request, "posture/posture.html", context, status=status)


@permitted_by(can_view_posture)
def posture_check_live(request):
    """The check card, polled while a check runs."""
    return render(request, "posture/_check_live.html", _check_context(timezone.now()))


@require_POST
@permitted_by(can_request_evaluation)
def posture_check(request):
    """Start a posture check now (audited); 409 while one runs."""
    try:
        request_evaluation(
            user=request.user, now=timezone.now(), ctx=AuditContext.from_request(request)
        )
    except EvaluationAlreadyRunning as error:
        return conflict_page(request, error, back=reverse("posture:findings"))
    messages.success(request, "Posture check queued: a worker reads the HSM now.")
    return redirect("posture:findings")


@require_POST
@permitted_by(can_accept_risk)
@domain_errors
def finding_accept(request, pk: int):
    """Accept one finding as a risk until an expiry, with a reason (audited); a refusal shows
    the page again with the reason and the typed input (400), a resolved finding 409."""
    finding = Finding.objects.filter(pk=pk).first()
    if finding is None:
        raise Http404("No such posture finding.")
    form = AcceptRiskForm(request.POST, auto_id=f"accept-{finding.pk}-%s")
    if form.is_valid():
        try:
            accept_risk(
                finding_id=finding.pk,
                user=request.user,
                now=timezone.now(),
                ctx=AuditContext.from_request(request),
                **form.cleaned_data,
            )
        except Invalid as invalid:
            for field, texts in invalid.errors.items():
                for text in texts:
                    form.add_error(field if field in form.fields else None, text)
        except Conflict as error:
            return conflict_page(request, error, back=reverse("posture:findings"))
    if form.errors:
        return _page(request, failed=(finding.pk, form), status=400)
    until = form.cleaned_data["expires_at"]
    messages.success(
        request, f"Accepted as a risk until {until:%Y-%m-%d %H:%M} UTC: {finding.summary}"
    )
    return redirect("posture:findings")
