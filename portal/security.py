"""Content Security Policy: django-csp's middleware, plus the two per-request adjustments the
static CONTENT_SECURITY_POLICY setting cannot express.

- form-action also allows the Entra ID authority's origin (read from settings on each request),
  because sign-out is a form POST that may redirect to the provider's end-session endpoint and
  browsers apply form-action to that redirect.
- The Swagger UI page (drf-spectacular, split view: no inline script) keeps `script-src 'self'`
  but needs inline styles and data: images, so only that path gets them.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.urls import reverse

DOCS_RELAXATION = {"style-src": ["'unsafe-inline'"], "img-src": ["data:"]}


def origin_of(url: str) -> str:
    """`https://login.example.com/tenant` → `https://login.example.com` ('' when not a URL)."""
    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("https", "http") else ""


class PortalCSPMiddleware(CSPMiddleware):
    """django-csp with the Entra ID origin in form-action and a relaxed style-src on API docs."""

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if report_only:
            return parts
        update: dict[str, list[str]] = dict(parts.update or {})
        entra_origin = origin_of(settings.ENTRA_AUTHORITY)
        if entra_origin:
            update["form-action"] = [*update.get("form-action", []), entra_origin]
        if request.path_info.startswith(reverse("api-docs")):
            for directive, sources in DOCS_RELAXATION.items():
                update[directive] = [*update.get(directive, []), *sources]
        parts.update = update or None
        return parts
