"""Request, approval-queue and policy pages (HTML)."""

from django.urls import path

from approvals import views

app_name = "approvals"

urlpatterns = [
    path("requests/", views.request_list, name="request-list"),
    path("requests/new/", views.request_choose, name="request-choose"),
    path("requests/new/<str:operation>/", views.request_new, name="request-new"),
    path("requests/new/<str:operation>/confirm/", views.request_confirm, name="request-confirm"),
    path("requests/<uuid:pk>/", views.request_detail, name="request-detail"),
    path("requests/<uuid:pk>/live/", views.request_live, name="request-live"),
    path("requests/<uuid:pk>/approve/", views.request_approve, name="request-approve"),
    path("requests/<uuid:pk>/reject/", views.request_reject, name="request-reject"),
    path("requests/<uuid:pk>/cancel/", views.request_cancel, name="request-cancel"),
    path("requests/<uuid:pk>/retry/", views.request_retry, name="request-retry"),
    path("approvals/", views.approval_queue, name="queue"),
    path("policies/", views.policy_list, name="policy-list"),
    path("policies/<str:operation>/", views.policy_edit, name="policy-edit"),
]
