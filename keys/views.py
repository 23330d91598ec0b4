"""HTML page of the key inventory: the filtered list. (A key's detail composes requests and
audit history, so it lives in the top layer: portal/pages.py.)"""

from __future__ import annotations

from django.shortcuts import render

from core.web import (
    is_filtered,
    paginate,
    query_without,
    role_required,
    tidy_filter_form,
)
from keys.filters import ManagedKeyFilter
from keys.selectors import keys_visible_to

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
