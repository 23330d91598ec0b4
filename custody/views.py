"""HTML of the custody register (`/custody/`) and the holder's possession confirmation."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.context import AuditContext
from core.errors import Conflict
from core.web import conflict_page, domain_errors
from custody.permissions import can_confirm_possession, can_read_backups, can_read_register
from custody.selectors import recent_backups, register_context
from custody.services import confirm_possession

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
