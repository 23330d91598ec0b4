from django.urls import path
from rest_framework.routers import SimpleRouter

from keys.api.principals import TeamPrincipalDetailView, TeamPrincipalListView
from keys.api.views import ManagedKeyViewSet, RotationStandardViewSet

router = SimpleRouter()
router.register("keys", ManagedKeyViewSet, basename="key")
router.register("rotation-standards", RotationStandardViewSet, basename="rotation-standard")
urlpatterns = [
    *router.urls,
    path(
        "teams/<slug:team_slug>/principals/",
        TeamPrincipalListView.as_view(),
        name="api-team-principals",
    ),
    path(
        "teams/<slug:team_slug>/principals/<uuid:object_id>/",
        TeamPrincipalDetailView.as_view(),
        name="api-team-principal",
    ),
]
