"""HTML views of the portal app: sign-in (demo/test only), sign-out, home."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from portal.selectors import teams_of


class LocalLoginView(auth_views.LoginView):
    """Username/password sign-in; exists only when KEYWARDEN_LOCAL_LOGIN is on."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def dispatch(self, request, *args, **kwargs):
        if not settings.LOCAL_LOGIN_ENABLED and request.method == "POST":
            raise Http404("Local sign-in is disabled.")
        return super().dispatch(request, *args, **kwargs)


@login_required
def home(request):
    return render(request, "portal/home.html", {"teams": teams_of(request.user)})
