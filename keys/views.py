"""HTML pages of the key inventory: the filtered list and one key's detail."""

from __future__ import annotations

from django.db.models import Q
from django.shortcuts import render

from accounts.selectors import teams_of
from approvals.selectors import requests_for_key
from audit.selectors import events_visible_to
from core.web import (
    domain_errors,
    is_filtered,
    paginate,
    query_without,
    role_required,
    tidy_filter_form,
)
from keys.filters import ManagedKeyFilter
from keys.models import KeyState
from keys.selectors import key_detail_for, keys_visible_to

# The same sort keys as the API's `?ordering=`.
ORDERINGS = {
    "name": "Name",
    "created_on": "Created",
    "expires_on": "Expires",
    "rotation_due_on": "Rotation due",
    "last_rotated_on": "Last rotated",
}
HISTORY_ROWS = 25


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


@role_required()
@domain_errors
def key_detail(request, name):
    """One visible key (else 404): versions, policy, assignments, its requests and audit trail."""
    key = key_detail_for(request.user, name)
    key_requests = list(requests_for_key(request.user, key.name)[:HISTORY_ROWS])
    events = (
        events_visible_to(request.user)
        .filter(
            Q(target_type="keys.managedkey", target_name=key.name)
            | Q(
                target_type="approvals.changerequest",
                target_id__in=[str(change.pk) for change in key_requests],
            )
        )
        .order_by("-sequence")[:HISTORY_ROWS]
    )
    context = {
        "key": key,
        "key_requests": key_requests,
        "events": events,
        "may_request": teams_of(request.user).filter(pk=key.team_id).exists(),
        "is_active": key.state == KeyState.ACTIVE,
        "is_deleted": key.state == KeyState.DELETED,
    }
    return render(request, "keys/key_detail.html", context)
