"""What every HTML view shares: role checks, domain errors → HTTP, pagination, query strings.

Pages answer like the API: anonymous → redirect to sign-in, wrong role → 403, not visible → 404.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from core.errors import Conflict, NotAllowed, NotFound

PAGE_SIZE = 25
# A UUID as Django's <uuid:> converter and our ids spell it (for DRF `lookup_value_regex`).
UUID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def role_required(*roles: str) -> Callable:
    """Signed in (else redirect to sign-in) and holding one of `roles` (else 403).

    Without arguments: any portal role at all (a user in no team and with no role gets 403)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs):
            held = request.user.roles
            if not held or (roles and not held & set(roles)):
                raise PermissionDenied("Your roles do not give access to this page.")
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator


def permitted_by(rule: Callable) -> Callable:
    """Signed in with a portal role, and `rule(user)` (a permission predicate) allows it; else
    403 with the rule's own reason."""

    def decorator(view):
        @wraps(view)
        def wrapped(request: HttpRequest, *args, **kwargs):
            decision = rule(request.user)
            if not decision:
                raise PermissionDenied(decision.reason)
            return view(request, *args, **kwargs)

        return role_required()(wrapped)

    return decorator


def domain_errors(view):
    """NotFound → 404 and NotAllowed → 403 pages; other errors are the view's to handle."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except NotFound as error:
            raise Http404(error.message) from error
        except NotAllowed as error:
            raise PermissionDenied(error.message) from error

    return wrapped


def conflict_page(request: HttpRequest, error: Conflict, *, back: str) -> HttpResponse:
    """A 409 page that says why the action could not be done and links back."""
    context = {"message": error.message, "back": back}
    return render(request, "web/conflict.html", context, status=409)


def paginate(
    request: HttpRequest,
    items,
    *,
    per_page: int = PAGE_SIZE,
    paginator_class: type[Paginator] = Paginator,
) -> Page:
    """The page `?page=` asks for (the last one when too high, the first when not a number)."""
    return paginator_class(items, per_page).get_page(request.GET.get("page"))


def query_without(request: HttpRequest, names: Iterable[str] = ("page",)) -> str:
    """The current query string without `names` (for pagination and export links)."""
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


def tidy_filter_form(form):
    """A filterset's form made readable: no colons, and "Any" for an unset choice. Labels and
    help texts are the filters' own (declared on the FilterSet, which the API shares)."""
    form.label_suffix = ""
    for field in form.fields.values():
        if isinstance(field.widget, forms.NullBooleanSelect):
            field.widget.choices = [("unknown", "Any"), ("true", "Yes"), ("false", "No")]
        elif getattr(field, "empty_label", None) is not None:
            field.empty_label = "Any"  # django-filter's ChoiceField puts it before the choices
        elif isinstance(field, forms.ChoiceField) and not isinstance(
            field, forms.MultipleChoiceField
        ):
            field.choices = [("", "Any"), *[c for c in field.choices if c[0] != ""]]
    return form


def is_filtered(form) -> bool:
    """Whether any of the form's fields has a value in the query string."""
    return any(form.data.get(name) not in (None, "", "unknown") for name in form.fields)
