"""HTML of the custody register (`/custody/`), the holder's possession confirmation and the
recovery rehearsal (`/custody/rehearsal/`)."""

from __future__ import annotations

import json
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audit.context import AuditContext
from core.errors import Conflict
from core.web import conflict_page, domain_errors, permitted_by
from custody.drills import latest_run, start_rehearsal
from custody.forms import RehearsalForm
from custody.permissions import (
    can_confirm_possession,
    can_read_backups,
    can_read_register,
    can_rehearse_recovery,
)
from custody.rehearsal import scratch_transfer_key
from custody.selectors import recent_backups, register_context
from custody.services import confirm_possession
from keys.gateway import HsmError

BACKUPS_SHOWN = 10


def register_readers(view):
    """Signed in, and a reader of the register (else 403 with the rule): unlike
    `core.web.permitted_by`, a holder with no portal role is let in, to confirm."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        decision = can_read_register(request.user)
        if not decision:
            raise PermissionDenied(decision.reason)
        return view(request, *args, **kwargs)

    return login_required(wrapped)


@register_readers
def register_page(request):
    """The register: activation record, holders (with possession), warnings, rehearsals, and
    for admins, custodians and auditors the last full HSM backups."""
    context = register_context(now=timezone.now())
    context["may_read_backups"] = bool(can_read_backups(request.user))
    if context["may_read_backups"]:
        context["backups"] = list(recent_backups()[:BACKUPS_SHOWN])
        context["backup_max_age_hours"] = settings.POSTURE_BACKUP_MAX_AGE_HOURS
    for holder in context["holders"]:
        holder.may_confirm = bool(can_confirm_possession(request.user, holder))
    context["may_rehearse"] = bool(can_rehearse_recovery(request.user))
    return render(request, "custody/register.html", context)


@register_readers
@require_POST
@domain_errors
def confirm_page(request, holder_id):
    """The holder's "I still hold my token" (CSRF-protected POST, audited)."""
    try:
        confirm_possession(
            holder_id=holder_id,
            user=request.user,
            now=timezone.now(),
            ctx=AuditContext.from_request(request),
        )
    except Conflict as error:
        return conflict_page(request, error, back="/custody/")
    messages.success(request, "Recorded: you confirmed that you still hold your token.")
    return redirect("custody:register")


@permitted_by(can_rehearse_recovery)
@require_http_methods(["GET", "POST"])
@domain_errors
def rehearsal_page(request):
    """Step 1: the scratch HSM's transfer key for the holders; step 2: their restore blob and
    the proof, run by a worker (POST); the latest run's progress and outcome."""
    form = RehearsalForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            start_rehearsal(
                user=request.user,
                scratch_url=settings.CUSTODY_SCRATCH_HSM_URL,
                restore_blob=data["restore_blob"],
                file_value=data["security_domain"],
                shares_used=data["shares_used"],
                proof=data["proof"],
                now=timezone.now(),
                ctx=AuditContext.from_request(request),
            )
        except Conflict as error:
            return conflict_page(request, error, back=reverse("custody:rehearsal"))
        messages.success(request, "Rehearsal started: a worker restores into the scratch HSM now.")
        return redirect("custody:rehearsal")
    context = {"form": form, "run": latest_run(), "scratch_url": settings.CUSTODY_SCRATCH_HSM_URL}
    return render(request, "custody/rehearsal.html", context, status=400 if form.errors else 200)


@permitted_by(can_rehearse_recovery)
@require_GET
def rehearsal_live(request):
    """The run card of the rehearsal page, polled by static/js/live-status.js while it runs."""
    return render(request, "custody/_rehearsal_live.html", {"run": latest_run()})


@permitted_by(can_rehearse_recovery)
@require_GET
def transfer_key_download(request):
    """The scratch HSM's transfer key (JSON) the holders wrap their restore blob to."""
    if not settings.CUSTODY_SCRATCH_HSM_URL:
        error = Conflict("No scratch HSM is set: CUSTODY_SCRATCH_HSM_URL names it.")
        return conflict_page(request, error, back=reverse("custody:rehearsal"))
    try:
        key = scratch_transfer_key(scratch_url=settings.CUSTODY_SCRATCH_HSM_URL)
    except HsmError as error:
        refused = Conflict(f"The scratch HSM did not give its transfer key: {error.message}")
        return conflict_page(request, refused, back=reverse("custody:rehearsal"))
    response = HttpResponse(json.dumps(key, indent=2), content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="scratch-transfer-key.json"'
    return response
