"""A team's principal directory (HTML): the Entra ID principals it registered by object id, so
role assignments show names. Members of the team and admins change it through
`accounts.services.save_principal`/`remove_principal` (audited); whoever sees the team reads it."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.permissions import can_manage_principals
from accounts.selectors import principals_of, team_visible_to
from accounts.services import remove_principal, save_principal
from audit.context import AuditContext
from core.errors import Invalid
from core.web import domain_errors, role_required
from keys.forms import PrincipalForm


@role_required()
@domain_errors
def principal_list(request, team_slug):
    """GET: the directory and, for those who may, the form. POST: register or update one."""
    team = team_visible_to(request.user, team_slug)
    form = PrincipalForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            principal = save_principal(
                team=team,
                actor=request.user,
                ctx=AuditContext.from_request(request),
                **form.cleaned_data,
            )
        except Invalid as invalid:
            form.add_service_errors(invalid.errors)
        else:
            messages.success(request, f"{principal.display_name} saved in the directory.")
            return redirect("keys:principals", team_slug=team.slug)
    context = {
        "team": team,
        "principals": principals_of(team),
        "form": form,
        "may_manage": can_manage_principals(request.user, team),
    }
    status = 400 if form.errors else 200
    return render(request, "keys/principal_list.html", context, status=status)


@role_required()
@require_POST
@domain_errors
def principal_remove(request, team_slug, object_id):
    team = team_visible_to(request.user, team_slug)
    remove_principal(
        team=team, actor=request.user, object_id=object_id, ctx=AuditContext.from_request(request)
    )
    messages.success(request, f"Principal {object_id} removed from the directory.")
    return redirect("keys:principals", team_slug=team.slug)
