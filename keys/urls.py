"""Key inventory and rotation standard pages (HTML). The portal adds the key detail page to
this namespace."""

from django.urls import path

from keys import principal_views, views

app_name = "keys"

urlpatterns = [
    path("keys/", views.key_list, name="list"),
    path("teams/<slug:team_slug>/principals/", principal_views.principal_list, name="principals"),
    path(
        "teams/<slug:team_slug>/principals/<uuid:object_id>/remove/",
        principal_views.principal_remove,
        name="principal-remove",
    ),
    path("rotation/standards/", views.rotation_standard_list, name="rotation-standards"),
    path(
        "rotation/standards/overrides/new/",
        views.rotation_override_new,
        name="rotation-override-new",
    ),
    path(
        "rotation/standards/<slug:key_class>/",
        views.rotation_standard_edit,
        name="rotation-standard-edit",
    ),
    path(
        "rotation/standards/<slug:key_class>/<slug:team_slug>/",
        views.rotation_standard_edit,
        name="rotation-override-edit",
    ),
]
