"""Audit trail pages (HTML); the API lives in audit/api/urls.py."""

from django.urls import path

from audit import views

app_name = "trail"

urlpatterns = [
    path("audit/", views.audit_trail, name="events"),
    path("audit/verify/", views.audit_verify, name="verify"),
    path("audit/verify/live/", views.audit_verify_live, name="verify-live"),
]
