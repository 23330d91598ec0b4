"""Key inventory pages (HTML)."""

from django.urls import path

from keys import views

app_name = "keys"

urlpatterns = [
    path("keys/", views.key_list, name="list"),
    path("keys/<str:name>/", views.key_detail, name="detail"),
]
