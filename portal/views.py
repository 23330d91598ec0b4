"""HTML views of the portal app: sign-in (demo/test only), the home dashboard and its admin
"Sync now" (with the polled progress of the running sync)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseNotFound
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_POST

from accounts.roles import DECIDING_ROLES, Role
from accounts.selectors import teams_of
from approvals.models import OPEN_STATES, State
from approvals.selectors import approval_queue_for, requests_visible_to
from audit.context import AuditContext
from core.web import conflict_page, permitted_by
from custody.selectors import register_of
from custody.warnings import custody_warnings
from keys.permissions import can_request_inventory_sync
from keys.selectors import keys_overdue_for_rotation, keys_visible_to, latest_sync_run
from keys.services.sync import SyncAlreadyRunning
from keys.services.sync_requests import request_inventory_sync, sync_in_progress
from portal.heartbeats import liveness
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


def admin_login(request):
    """The Django admin's password sign-in while KEYWARDEN_LOCAL_LOGIN is on. Off, a password
    is refused (404) and the page sends the browser to the portal's sign-in (Entra ID)."""
    if settings.LOCAL_LOGIN_ENABLED:
        return admin.site.login(request)
    if request.method != "GET":
        return HttpResponseNotFound(
            "Password sign-in is turned off (KEYWARDEN_LOCAL_LOGIN=false): sign in with "
            "Microsoft Entra ID at /accounts/login/.",
            content_type="text/plain",
        )
    next_url = request.GET.get("next") or reverse("admin:index")
    return redirect(f"{reverse('login')}?{urlencode({'next': next_url})}")


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
        "rotation_tiles": rotation_tiles(_home_scope(user), names=HEADLINE_TILES),
        "liveness": liveness(now=timezone.now()),
        "custody_warnings": custody_warnings(register_of(), now=timezone.now()),
        **_sync_context(timezone.now()),
    }


def _home_scope(user):
    """The rotation dashboard's scope for the home page: every team the user may see."""
    return report_scope(user, team=None, key_class=None, now=timezone.now())


def _sync_context(now) -> dict:
    return {"last_sync": latest_sync_run(), "sync_waiting": sync_in_progress(now=now), "now": now}


@permitted_by(can_request_inventory_sync)
@require_POST
def sync_now(request):
    """Queue a full inventory sync (audited); 409 while one is running or queued."""
    try:
        request_inventory_sync(
            admin=request.user, ctx=AuditContext.from_request(request), now=timezone.now()
        )
    except SyncAlreadyRunning as error:
        return conflict_page(request, error, back=reverse("home"))
    messages.success(request, "Inventory sync queued: a full sync of the HSM starts shortly.")
    return redirect("home")


@permitted_by(can_request_inventory_sync)
def sync_live(request):
    """The sync card of the admin home, polled by static/js/live-status.js while a sync runs."""
    return render(request, "portal/_sync_live.html", _sync_context(timezone.now()))
