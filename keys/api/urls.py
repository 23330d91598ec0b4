from rest_framework.routers import SimpleRouter

from keys.api.views import ManagedKeyViewSet, RotationStandardViewSet

router = SimpleRouter()
router.register("keys", ManagedKeyViewSet, basename="key")
router.register("rotation-standards", RotationStandardViewSet, basename="rotation-standard")
urlpatterns = router.urls
