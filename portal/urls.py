from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from keys.urls import urlpatterns as key_pages
from portal import api, entra_views, health, metrics, pages, views

# The key detail composes requests and audit history, so the top layer adds it to `keys:`.
key_pages = [
    *key_pages,
    path("byok/", pages.byok, name="byok"),
    path("keys/<str:name>/", pages.key_detail, name="detail"),
]

api_v1 = [
    path("me/", api.MeView.as_view(), name="api-me"),
    path("auth/token/", api.TokenView.as_view(), name="api-token"),
    path("auth/logout/", api.TokenLogoutView.as_view(), name="api-logout"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("inventory/sync/", views.sync_now, name="inventory-sync"),
    path("inventory/sync/live/", views.sync_live, name="inventory-sync-live"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("accounts/login/", views.LocalLoginView.as_view(), name="login"),
    path("accounts/logout/", entra_views.SignOutView.as_view(), name="logout"),
    path("auth/entra/login/", entra_views.entra_login, name="entra-login"),
    path("auth/entra/callback/", entra_views.entra_callback, name="entra-callback"),
    path("", include((key_pages, "keys"))),
    path("", include("approvals.urls")),
    path("", include("audit.urls")),
    path("", include("reports.urls")),
    path("", include("notifications.urls")),
    path("", include("posture.urls")),
    path("", include("custody.urls")),
    path("api/v1/", include(api_v1)),
    path("api/v1/", include("keys.api.urls")),
    path("api/v1/", include("approvals.api.urls")),
    path("api/v1/", include("reports.api_urls")),
    path("api/v1/", include("notifications.api.urls")),
    path("api/v1/", include("posture.api.urls")),
    path("api/v1/", include("custody.api.urls")),
    path("api/v1/audit/", include("audit.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        login_required(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("admin/login/", views.admin_login, name="admin-login"),  # before the admin's own
    path("admin/", admin.site.urls),
]
