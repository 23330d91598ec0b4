from django.urls import path
from rest_framework.routers import SimpleRouter

from posture.api.views import FindingViewSet, PostureCheckView

router = SimpleRouter()
router.register("posture/findings", FindingViewSet, basename="posture-finding")
urlpatterns = [
    path("posture/check/", PostureCheckView.as_view(), name="api-posture-check"),
    *router.urls,
]
