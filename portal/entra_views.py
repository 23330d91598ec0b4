"""HTML edge of Entra ID sign-in: start the flow, take the provider's callback, sign out.

Plain Django views (not part of the API schema). The callback is a GET from the provider, so
CSRF protection there is the flow's `state`, checked against the server-side session.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.signals import user_login_failed
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal import entra


@never_cache
@require_GET
def entra_login(request):
    """Redirect to Microsoft Entra ID; come back to a safe `next` (same host) afterwards."""
    if not entra.is_configured():
        raise Http404("Entra ID sign-in is not configured.")
    next_url = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = resolve_url(settings.LOGIN_REDIRECT_URL)
    redirect_uri = settings.ENTRA_REDIRECT_URI or request.build_absolute_uri(
        reverse("entra-callback")
    )
    try:
        authorize_url = entra.start_sign_in(
            session=request.session, redirect_uri=redirect_uri, next_url=next_url
        )
    except entra.EntraSignInError as error:
        return _error_page(request, error)
    return HttpResponseRedirect(authorize_url)


@never_cache
@require_GET
def entra_callback(request):
    """Complete the sign-in started in this browser; sign the user in only if every check holds."""
    if not entra.is_configured():
        raise Http404("Entra ID sign-in is not configured.")
    try:
        sign_in = entra.complete_sign_in(session=request.session, auth_response=request.GET.dict())
    except entra.EntraSignInError as error:
        if error.username:  # the provider named an account: audit the refusal under it
            user_login_failed.send(
                sender=__name__, credentials={"username": error.username}, request=request
            )
        return _error_page(request, error)
    login(request, sign_in.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[entra.SIGNED_IN_SESSION_KEY] = True
    return HttpResponseRedirect(sign_in.next_url)


class SignOutView(auth_views.LogoutView):
    """Django's sign-out; after an Entra ID sign-in it also ends the Entra ID session when
    ENTRA_POST_LOGOUT_REDIRECT_URI is set."""

    def post(self, request, *args, **kwargs):
        used_entra = request.session.get(entra.SIGNED_IN_SESSION_KEY) is True
        response = super().post(request, *args, **kwargs)
        end_session_url = entra.end_session_url() if used_entra else None
        return HttpResponseRedirect(end_session_url) if end_session_url else response


def _error_page(request, error: entra.EntraSignInError):
    if isinstance(error, entra.NoAccess):
        context = {"identity": error.identity}
        return render(request, "portal/no_access.html", context, status=error.status)
    return render(request, "portal/sign_in_error.html", {"error": error}, status=error.status)
