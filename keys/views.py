"""HTML pages of the keys app: the filtered inventory list, and the rotation standards (every
role reads them, as in the API; admins edit them through `update_rotation_standard`). (A key's
detail composes requests and audit history, so it lives in the top layer: portal/pages.py.)"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils import timezone

from accounts.selectors import teams_visible_to
from audit.context import AuditContext
from core.errors import Invalid
from core.web import (
    domain_errors,
    is_filtered,
    paginate,
    permitted_by,
    query_without,
    role_required,
    tidy_filter_form,
)
from keys.filters import ManagedKeyFilter
from keys.forms import RotationStandardForm, TeamOverrideForm
from keys.permissions import can_edit_rotation_standard
from keys.selectors import (
    keys_visible_to,
    rotation_classes,
    rotation_standard_for,
    rotation_standards_in_use,
)
from keys.services.compliance import update_rotation_standard

# The same sort keys as the API's `?ordering=`.
ORDERINGS = {
    "name": "Name",
    "created_on": "Created",
    "expires_on": "Expires",
    "compliance_due_on": "Rotation due",
    "last_rotated_on": "Last rotated",
}


@role_required()
def key_list(request):
    """Keys the user may see, filtered (ManagedKeyFilter), searched by name, sorted, paged."""
    filterset = ManagedKeyFilter(request.GET, queryset=keys_visible_to(request.user))
    search = request.GET.get("search", "").strip()
    ordering = request.GET.get("ordering", "name")
    if ordering.lstrip("-") not in ORDERINGS:
        ordering = "name"
    keys = filterset.qs.filter(name__icontains=search) if search else filterset.qs
    page = paginate(request, keys.order_by(ordering, "name"))
    context = {
        "filter_form": tidy_filter_form(filterset.form),
        "is_filtered": is_filtered(filterset.form),
        "search": search,
        "ordering": ordering,
        "orderings": ORDERINGS,
        "page": page,
        "query": query_without(request),
        "sort_query": query_without(request, ("page", "ordering")),
    }
    return render(request, "keys/key_list.html", context)


# --- rotation standards --------------------------------------------------------------------------
@role_required()
def rotation_standard_list(request):
    """Every class's standard and the team overrides, with the keys each judges."""
    context = {
        "rows": rotation_standards_in_use(),
        "may_edit": can_edit_rotation_standard(request.user),
    }
    return render(request, "keys/rotation_standard_list.html", context)


def _save_standard(request, form, *, key_class: str, team=None):
    """Call the service with the form's values; its field errors land on the form."""
    try:
        update_rotation_standard(
            key_class=key_class,
            team=team,
            max_age=form.cleaned_data["max_age"],
            warn_before=form.cleaned_data["warn_before"],
            admin=request.user,
            ctx=AuditContext.from_request(request),
            now=timezone.now(),
        )
    except Invalid as invalid:
        form.add_service_errors(invalid.errors)
        return False
    owner = f" for team {team.slug}" if team else ""
    messages.success(request, f"Rotation standard of class {key_class}{owner} saved.")
    return True


@permitted_by(can_edit_rotation_standard)
@domain_errors
def rotation_standard_edit(request, key_class, team_slug=None):
    """Edit a class's standard, or a team's existing override of it."""
    standard = rotation_standard_for(key_class, team_slug)
    if request.method != "POST":
        initial = {"max_age": standard.max_age, "warn_before": standard.warn_before}
        return _standard_page(request, RotationStandardForm(initial=initial), standard=standard)
    form = RotationStandardForm(request.POST)
    if form.is_valid() and _save_standard(
        request, form, key_class=key_class, team=standard.team if team_slug else None
    ):
        return redirect("keys:rotation-standards")
    return _standard_page(request, form, standard=standard, status=400)


@permitted_by(can_edit_rotation_standard)
@domain_errors
def rotation_override_new(request):
    """Give one team its own standard for a class."""
    teams = {team.slug: team for team in teams_visible_to(request.user).order_by("slug")}
    choices = {
        "classes": sorted(rotation_classes()),
        "teams": [(slug, team.name) for slug, team in teams.items()],
    }
    if request.method != "POST":
        return _standard_page(request, TeamOverrideForm(initial=request.GET, **choices))
    form = TeamOverrideForm(request.POST, **choices)
    if form.is_valid() and _save_standard(
        request,
        form,
        key_class=form.cleaned_data["key_class"],
        team=teams[form.cleaned_data["team"]],
    ):
        return redirect("keys:rotation-standards")
    return _standard_page(request, form, status=400)


def _standard_page(request, form, *, standard=None, status=200):
    context = {"form": form, "standard": standard}
    return render(request, "keys/rotation_standard_edit.html", context, status=status)
