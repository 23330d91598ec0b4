from rest_framework.routers import SimpleRouter

from keys.api.views import ManagedKeyViewSet

router = SimpleRouter()
router.register("keys", ManagedKeyViewSet, basename="key")
urlpatterns = router.urls
