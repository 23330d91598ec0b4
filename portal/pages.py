"""Pages that compose several apps: a key's detail with its requests and audit history, and
the BYOK walk-through (a team's key-exchange keys and the requests that make and use them)."""

from __future__ import annotations

from django.db.models import Q
from django.http import Http404
from django.shortcuts import render

from accounts.selectors import teams_visible_to
from approvals.models import Operation
from approvals.permissions import can_submit
from approvals.selectors import requests_for_key
from audit.selectors import events_visible_to, newest_first
from core.web import domain_errors, role_required
from keys.models import KEK_KEY_OPS, KEK_KTY, KEK_SIZES, KeyState, RotationSchedule
from keys.schedules import window_of
from keys.selectors import key_detail_for, key_exchange_keys_of, warnings_sent_for

HISTORY_ROWS = 25


@role_required()
@domain_errors
def key_detail(request, name):
    """One visible key (else 404): versions, policy, assignments, its requests and audit trail."""
    key = key_detail_for(request.user, name)
    key_requests = list(requests_for_key(request.user, key.name)[:HISTORY_ROWS])
    events = newest_first(
        events_visible_to(request.user).filter(
            Q(target_type="keys.managedkey", target_name=key.name)
            | Q(
                target_type="approvals.changerequest",
                target_id__in=[str(change.pk) for change in key_requests],
            )
        )
    )[:HISTORY_ROWS]
    schedule = RotationSchedule.objects.filter(key=key).first()
    context = {
        "key": key,
        "schedule": schedule,
        "schedule_window": window_of(schedule).describe() if schedule else "",
        "key_requests": key_requests,
        "events": events,
        "key_warnings": warnings_sent_for(key)[:HISTORY_ROWS],
        "may_request": bool(can_submit(request.user, key.team)),
        "may_adopt": bool(can_submit(request.user, key.team, operation=Operation.KEY_ADOPT)),
        "is_active": key.state == KeyState.ACTIVE,
        "is_deleted": key.state == KeyState.DELETED,
    }
    return render(request, "keys/key_detail.html", context)


@role_required()
def byok(request):
    """BYOK step by step for one team (`?team=`, else the user's first): request a key-exchange
    key, download its public key and kid, wrap on-premises, request the import."""
    teams = list(teams_visible_to(request.user).order_by("slug"))
    chosen = request.GET.get("team")
    team = next((t for t in teams if t.slug == chosen), None) if chosen else next(iter(teams), None)
    if chosen and team is None:
        raise Http404(f"No team {chosen!r} that you may see.")
    context = {
        "teams": teams,
        "team": team,
        "keks": key_exchange_keys_of(request.user, team).order_by("name") if team else [],
        "may_request": bool(can_submit(request.user, team)) if team else False,
        "kek_kty": KEK_KTY,
        "kek_size": max(KEK_SIZES),
        "kek_sizes": KEK_SIZES,
        "kek_ops": KEK_KEY_OPS,
    }
    return render(request, "keys/byok.html", context)
