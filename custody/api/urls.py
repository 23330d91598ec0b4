from django.urls import path

from custody.api.backups import FullBackupList
from custody.api.views import ChallengeView, ConfirmPossessionView, RegisterView

urlpatterns = [
    path("custody/", RegisterView.as_view(), name="api-custody-register"),
    path("custody/backups/", FullBackupList.as_view(), name="api-custody-backups"),
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
