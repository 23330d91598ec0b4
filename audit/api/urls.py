"""Audit API routes, mounted at /api/v1/audit/ (URL names `audit:…`)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from audit.api import views

app_name = "audit"

router = SimpleRouter()
router.register("events", views.AuditEventViewSet, basename="event")

urlpatterns = [
    path("verify/", views.ChainVerifyView.as_view(), name="verify"),
    path("export.csv", views.CsvExportView.as_view(), name="export-csv"),
    path("export.jsonl", views.JsonLinesExportView.as_view(), name="export-jsonl"),
    *router.urls,
]
