"""HTML of the custody register (`/custody/`) and the holder's possession confirmation."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.context import AuditContext
from core.errors import Conflict
from core.web import conflict_page, domain_errors, permitted_by
from custody.permissions import can_confirm_possession, can_read_register
from custody.selectors import register_context
from custody.services import confirm_possession


@permitted_by(can_read_register)
def register_page(request):
    """The register: activation record, holders (with possession), warnings, rehearsals."""
    context = register_context(now=timezone.now())
    for holder in context["holders"]:
        holder.may_confirm = bool(can_confirm_possession(request.user, holder))
    return render(request, "custody/register.html", context)


@permitted_by(can_read_register)
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
