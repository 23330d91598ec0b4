"""The portal's URLs plus one view that fails, to see the demo's 500 page."""

from django.urls import path

from portal.urls import urlpatterns as portal_urlpatterns


def failing_view(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [*portal_urlpatterns, path("test-failure/", failing_view)]
