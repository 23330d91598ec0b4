"""Key inventory pages (HTML). The portal adds the key detail page to this namespace."""

from django.urls import path

from keys import views

app_name = "keys"

urlpatterns = [
    path("keys/", views.key_list, name="list"),
]
