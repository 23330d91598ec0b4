"""The posture page (HTML)."""

from django.urls import path

from posture import views

app_name = "posture"

urlpatterns = [
    path("posture/", views.posture_page, name="findings"),
    path("posture/check/", views.posture_check, name="check"),
    path("posture/check/live/", views.posture_check_live, name="check-live"),
    path("posture/findings/<int:pk>/accept/", views.finding_accept, name="accept"),
]
