"""Security domain routes (api 7.6 ``securitydomain.json``): download, transfer key, upload and
their ``…/pending`` status endpoints. Formats and rules: ``hsm_emulator.securitydomain``."""

from __future__ import annotations

from typing import Any

from hsm_emulator.securitydomain import document, payload
from hsm_emulator.wire import Request, Response

_RETRY_AFTER = "1"


def _accepted(request: Request, kind: str, body: Any) -> Response:
    location = f"{request.base_url}/securitydomain/{kind}/pending"
    return Response(202, body, {"Azure-AsyncOperation": location, "Retry-After": _RETRY_AFTER})


def download(app: Any, request: Request, params: dict[str, str]) -> Response:
    """POST /securitydomain/download: the security domain in the 202 body; activates the HSM."""
    holders, required = document.parse_download_request(request.json())
    value = document.build(holders, required, payload.export_keys(app.store))
    was_activated = app.security_domain.activated

    def work() -> str:
        return "The HSM was already activated." if was_activated else "The HSM is activated."

    app.security_domain.start(
        "download", work, detail=f"Security domain wrapped to {len(holders)} certificates."
    )
    return _accepted(request, "download", {"value": value})


def download_status(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET /securitydomain/download/pending (api-version optional)."""
    return Response(200, app.security_domain.status("download"))


def transfer_key(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET /securitydomain/upload: the key an upload's security domain is wrapped to."""
    key = app.security_domain.transfer.get()
    return Response(200, {"key_format": "jwk", "transfer_key": key.jwk()})


def upload(app: Any, request: Request, params: dict[str, str]) -> Response:
    """POST /securitydomain/upload: restore a new HSM's keys from a security domain (202);
    checked in full before anything changes, so a refused upload leaves the HSM as it was."""
    app.security_domain.ensure_not_activated()
    value = request.json().get("value")
    keys = payload.parse_keys(document.open_upload(value, app.security_domain.transfer.get()))
    payload.ensure_empty(app.store)

    def work() -> str:
        count = payload.restore_keys(app.store, keys, now=app.clock.now())
        app.store.keys.forget_loaded()
        return f"Security domain restored: {count} keys. The HSM is activated."

    status = app.security_domain.start("upload", work, detail="Restoring the security domain.")
    return _accepted(request, "upload", status)


def upload_status(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET /securitydomain/upload/pending (api-version optional)."""
    return Response(200, app.security_domain.status("upload"))
