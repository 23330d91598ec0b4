"""Sign-in limits beyond django-axes' lockout: the token endpoint's throttles (per client address
and per username, both keyed as `core.client_ip` and the lockout see them), and what a locked-out
sign-in gets (AXES_LOCKOUT_CALLABLE): the API a JSON 429 in its usual shape, the sign-in page a
page that says why and for how long."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework.throttling import SimpleRateThrottle

from core.client_ip import client_ip

STATUS = 429


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        f"Too many failed sign-ins for this account or from your address "
        f"({settings.AXES_FAILURE_LIMIT} failures). Try again in {minutes} minutes."
    )


def locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    message = lockout_message()
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=STATUS)
    else:
        response = render(
            request, "registration/locked_out.html", {"message": message}, status=STATUS
        )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response


class SignInAddressThrottle(SimpleRateThrottle):
    """SIGN_IN_RATE attempts per client address: X-Forwarded-For counts only from a trusted
    proxy, so a rotating header does not make a new client."""

    scope = "sign-in"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": client_ip(request)}


class SignInUsernameThrottle(SimpleRateThrottle):
    """SIGN_IN_RATE attempts per username, from however many addresses."""

    scope = "sign-in-username"

    def get_cache_key(self, request, view) -> str | None:
        username = request.data.get("username") if hasattr(request.data, "get") else None
        if not isinstance(username, str) or not username:
            return None  # the body is refused as malformed anyway; the address throttle counts it
        # Hashed: a username is the caller's own text (any length, any character).
        ident = hashlib.sha256(username.casefold().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}
