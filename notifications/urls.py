"""Inbox, notification settings, team chat webhooks and the demo's mail (HTML)."""

from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:pk>/read/", views.inbox_read, name="inbox-read"),
    path("inbox/read-all/", views.inbox_read_all, name="inbox-read-all"),
    path("settings/notifications/", views.preferences, name="preferences"),
    path("teams/<slug:slug>/notifications/", views.team_channels, name="team-channels"),
    path("demo/mail/", views.demo_mail, name="demo-mail"),
]
