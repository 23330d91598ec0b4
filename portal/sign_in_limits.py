"""What a locked-out sign-in gets (django-axes' AXES_LOCKOUT_CALLABLE): the API a JSON 429 in
its usual shape, the sign-in page a page that says why and for how long."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

STATUS = 429


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        f"Too many failed sign-ins for this account from your address "
        f"({settings.AXES_FAILURE_LIMIT} in a row). Try again in {minutes} minutes."
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
