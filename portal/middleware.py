"""Request correlation: every request gets an id, echoed in the response and kept for audit."""

from __future__ import annotations

import re
import uuid

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
