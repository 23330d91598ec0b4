from django.urls import path

from custody.api.views import ChallengeView, ConfirmPossessionView, RegisterView

urlpatterns = [
    path("custody/", RegisterView.as_view(), name="api-custody-register"),
    path(
        "custody/holders/<uuid:holder_id>/confirm/",
        ConfirmPossessionView.as_view(),
        name="api-custody-confirm",
    ),
    path(
        "custody/holders/<uuid:holder_id>/challenge/",
        ChallengeView.as_view(),
        name="api-custody-challenge",
    ),
]
