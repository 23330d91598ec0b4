"""Custody register pages."""

from django.urls import path

from custody import views

app_name = "custody"

urlpatterns = [
    path("custody/", views.register_page, name="register"),
    path("custody/holders/<uuid:holder_id>/confirm/", views.confirm_page, name="confirm"),
    path("custody/rehearsal/", views.rehearsal_page, name="rehearsal"),
    path("custody/rehearsal/live/", views.rehearsal_live, name="rehearsal-live"),
    path(
        "custody/rehearsal/transfer-key/",
        views.transfer_key_download,
        name="rehearsal-transfer-key",
    ),
]
