from rest_framework.routers import SimpleRouter

from approvals.api.views import ApprovalPolicyViewSet, ChangeRequestViewSet

router = SimpleRouter()
router.register("requests", ChangeRequestViewSet, basename="request")
router.register("policies", ApprovalPolicyViewSet, basename="policy")
urlpatterns = router.urls
