"""Custody register pages."""

from django.urls import path

from custody import views

app_name = "custody"

urlpatterns = [
    path("custody/", views.register_page, name="register"),
    path("custody/holders/<uuid:holder_id>/confirm/", views.confirm_page, name="confirm"),
]
