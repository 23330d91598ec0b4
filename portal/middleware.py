"""Request correlation (every request gets an id, echoed in the response and kept for audit),
and the API's body size limit."""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.http import JsonResponse

REQUEST_ID_HEADER = "X-Request-ID"
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{8,64}")


class RequestIdMiddleware:
    """Use the caller's X-Request-ID when it is well-formed, else a new UUID."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request.request_id = incoming if _ACCEPTABLE.fullmatch(incoming) else uuid.uuid4().hex
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response


def too_large() -> JsonResponse:
    """413 in the API's error shape."""
    limit = settings.API_MAX_BODY_BYTES
    return JsonResponse(
        {"detail": f"The request body is larger than {limit} bytes (API_MAX_BODY_BYTES)."},
        status=413,
    )


class BodySizeLimitMiddleware:
    """An API request whose body is over API_MAX_BODY_BYTES is answered 413 before anything
    reads it (Django reads no more than Content-Length, and no body without one)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.API_MAX_BODY_BYTES:
                return too_large()
        return self.get_response(request)
