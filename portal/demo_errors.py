"""The demo runs with DEBUG on (SQLite, the emulator, mail on the console), but its users never
see Django's debug pages, which list every URL pattern and the settings: a missing page or a
server error renders the product's 404/500 templates, as in production. `DEBUG_ERROR_PAGES=true`
brings Django's pages back for someone developing Keywarden."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404
from django.urls import Resolver404, resolve
from django.views import defaults

logger = logging.getLogger(__name__)


def _shows_product_pages() -> bool:
    return settings.DEBUG and not settings.DEBUG_ERROR_PAGES


class ProductErrorPagesMiddleware:
    """With DEBUG on: an unknown URL and a view's Http404 → templates/404.html; a bad request
    → 400; any other exception from a view → templates/500.html, logged with its traceback.
    Sits after the authentication middleware (the 404 page shows the signed-in navigation)
    and inside CommonMiddleware (whose APPEND_SLASH redirect acts on the 404 it returns)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _shows_product_pages():
            try:  # Django raises this before any view, where process_exception never sees it
                resolve(request.path_info, getattr(request, "urlconf", None))
            except Resolver404 as missing:
                return defaults.page_not_found(request, missing)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not _shows_product_pages() or isinstance(exception, PermissionDenied):
            return None  # Django's own handling (a 403 page in every mode)
        if isinstance(exception, Http404):
            return defaults.page_not_found(request, exception)
        if isinstance(exception, BadRequest | SuspiciousOperation):
            return defaults.bad_request(request, exception)
        logger.error("portal.server_error", exc_info=exception, extra={"path": request.path})
        return defaults.server_error(request)
