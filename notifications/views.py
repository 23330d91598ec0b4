"""Pages of the notifications app: the inbox, notification settings, a team's chat webhooks
and, in the demo only, the mail the demo sent. Thin: parse, call one service or selector."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.selectors import teams_visible_to
from audit.context import AuditContext
from core.errors import Invalid
from core.web import paginate, permitted_by, role_required
from notifications import services
from notifications.forms import ChatChannelsForm, PreferencesForm
from notifications.models import ALWAYS_ON_REASON
from notifications.permissions import can_edit_chat_channels
from notifications.selectors import inbox_of, masked_channels_of, preferences_of

DEMO_MAIL_SHOWN = 50


@role_required()
def inbox(request):
    """What needs me: approvals waiting for me, my requests' outcomes; unread first marked."""
    page = paginate(request, inbox_of(request.user))
    return render(request, "notifications/inbox.html", {"page": page})


@require_POST
@role_required()
def inbox_read(request, pk: int):
    """Mark one of my items read and go where it points (or back); not mine → 404."""
    item = inbox_of(request.user).filter(pk=pk).first()
    if item is None:
        raise Http404("No such item in your inbox.")
    services.mark_read(
        user=request.user,
        delivery_ids=[pk],
        now=timezone.now(),
        ctx=AuditContext.from_request(request),
    )
    return redirect(item.notice.path if "open" in request.POST else "notifications:inbox")


@require_POST
@role_required()
def inbox_read_all(request):
    marked = services.mark_read(
        user=request.user,
        delivery_ids=None,
        now=timezone.now(),
        ctx=AuditContext.from_request(request),
    )
    messages.success(request, f"Marked {marked} item(s) read.")
    return redirect("notifications:inbox")


@role_required()
def preferences(request):
    form = PreferencesForm(request.POST or None, enabled=preferences_of(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            services.save_preferences(
                user=request.user, enabled=form.enabled(), ctx=AuditContext.from_request(request)
            )
        except Invalid as error:
            for field, problems in error.errors.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(request, "Notification settings saved.")
            return redirect("notifications:preferences")
    teams = teams_visible_to(request.user).order_by("name")
    context = {
        "form": form,
        "always_on_reason": ALWAYS_ON_REASON,
        "chat_teams": teams if can_edit_chat_channels(request.user) else [],
    }
    return render(request, "notifications/preferences.html", context)


@permitted_by(can_edit_chat_channels)
def team_channels(request, slug: str):
    team = teams_visible_to(request.user).filter(slug=slug).first()
    if team is None:
        raise Http404("No such team.")
    form = ChatChannelsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_team_channels(
                team=team, ctx=AuditContext.from_request(request), **form.changes()
            )
        except Invalid as error:
            for field, problems in error.errors.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(request, f"Chat webhooks of {team.name} saved.")
            return redirect("notifications:team-channels", slug=team.slug)
    context = {"team": team, "form": form, "current": masked_channels_of(team)}
    return render(request, "notifications/team_channels.html", context)


@role_required()
def demo_mail(request):
    """The demo's mail (Django's file backend writes one file per connection). 404 unless the
    demo's local sign-in is on: production mail never lands in files."""
    if not settings.LOCAL_LOGIN_ENABLED or not settings.EMAIL_BACKEND.endswith(
        "filebased.EmailBackend"
    ):
        raise Http404("The mail view exists only in the demo.")
    folder = Path(settings.EMAIL_FILE_PATH)
    files = sorted(folder.glob("*.log"), key=lambda path: path.stat().st_mtime, reverse=True)
    mails = [
        {"name": path.name, "text": path.read_text(errors="replace")}
        for path in files[:DEMO_MAIL_SHOWN]
    ]
    return render(request, "notifications/demo_mail.html", {"mails": mails, "folder": folder})
