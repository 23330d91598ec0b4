from django.urls import path

from reports.api import RotationReportView

urlpatterns = [
    path("reports/rotation/", RotationReportView.as_view(), name="api-rotation-report"),
]
