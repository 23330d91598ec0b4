"""HTML views of the portal app: sign-in (demo/test only) and the home dashboard."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from accounts.roles import DECIDING_ROLES, Role
from accounts.selectors import teams_of
from approvals.models import OPEN_STATES, State
from approvals.selectors import approval_queue_for, requests_visible_to
from keys.selectors import keys_overdue_for_rotation, keys_visible_to, latest_sync_run
from reports.selectors import HEADLINE_TILES, report_scope, rotation_tiles

DASHBOARD_ROWS = 10


class LocalLoginView(auth_views.LoginView):
    """Username/password sign-in; exists only when KEYWARDEN_LOCAL_LOGIN is on."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def dispatch(self, request, *args, **kwargs):
        if not settings.LOCAL_LOGIN_ENABLED and request.method == "POST":
            raise Http404("Local sign-in is disabled.")
        return super().dispatch(request, *args, **kwargs)


@login_required
def home(request):
    """One section per role the user holds (PRODUCT.md §1)."""
    user, context = request.user, {"teams": teams_of(request.user)}
    if user.has_role(Role.REQUESTER):
        context.update(_requester_section(user))
    if user.roles & DECIDING_ROLES:
        queue = approval_queue_for(user, now=timezone.now())
        context.update(queue=queue[:DASHBOARD_ROWS], queue_count=queue.count())
    if user.has_role(Role.ADMIN):
        context.update(_admin_section(user))
    return render(request, "portal/home.html", context)


def _requester_section(user) -> dict:
    teams = teams_of(user)
    keys = keys_visible_to(user).filter(team__in=teams).order_by("name")
    open_requests = requests_visible_to(user).filter(team__in=teams, state__in=OPEN_STATES)
    return {
        "team_keys": keys[:DASHBOARD_ROWS],
        "team_key_count": keys.count(),
        "open_requests": open_requests[:DASHBOARD_ROWS],
        "team_rotation_tiles": rotation_tiles(_home_scope(user)),
    }


def _admin_section(user) -> dict:
    failed = requests_visible_to(user).filter(state=State.FAILED)
    drift = keys_visible_to(user).filter(has_drift=True).order_by("name")
    overdue = keys_overdue_for_rotation().select_related("team")
    return {
        "failed": failed[:DASHBOARD_ROWS],
        "failed_count": failed.count(),
        "drift": drift[:DASHBOARD_ROWS],
        "drift_count": drift.count(),
        "overdue": overdue.order_by("compliance_due_on", "name")[:DASHBOARD_ROWS],
        "overdue_count": overdue.count(),
        "last_sync": latest_sync_run(),
        "rotation_tiles": rotation_tiles(_home_scope(user), names=HEADLINE_TILES),
    }


def _home_scope(user):
    """The rotation dashboard's scope for the home page: every team the user may see."""
    return report_scope(user, team=None, key_class=None, now=timezone.now())
