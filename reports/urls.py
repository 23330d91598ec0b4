"""Rotation dashboard pages (HTML, CSV)."""

from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("rotation/", views.rotation_dashboard, name="rotation"),
    path("rotation/keys.csv", views.rotation_key_table_csv, name="rotation-csv"),
]
