"""``/_emulator/...`` control endpoints: fault rules, request log, reset. Loopback peers only,
no bearer token, never logged or faulted themselves."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import parse_qs

from hsm_emulator.codec import now, parse_json_object
from hsm_emulator.errors import ApiError, bad_parameter
from hsm_emulator.faults import parse_rule
from hsm_emulator.rotation import run_tick
from hsm_emulator.wire import Response


def is_loopback(peer: str) -> bool:
    """True for 127.0.0.0/8, ::1 and IPv4-mapped loopback; False for anything else."""
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def _put_faults(app: Any, body: bytes) -> Response:
    rules = parse_json_object(body).get("rules")
    if not isinstance(rules, list):
        raise bad_parameter('The body must be {"rules": [...]}.')
    app.faults.replace([parse_rule(rule) for rule in rules])
    return Response(200, {"rules": app.faults.documents()})


def _requests(app: Any, query: str) -> Response:
    raw = parse_qs(query).get("since", ["0"])[0]
    try:
        since = int(raw)
    except ValueError as exc:
        raise bad_parameter("'since' must be an integer sequence number.") from exc
    entries, latest = app.log.since(since)
    return Response(200, {"requests": entries, "latest_seq": latest})


def handle_control(
    app: Any, method: str, path: str, query: str, body: bytes, peer: str
) -> Response:
    """Serve one control request; non-loopback peers get 403."""
    if not is_loopback(peer):
        raise ApiError(403, "Forbidden", "The emulator control endpoints answer loopback only.")
    endpoint = path.rstrip("/")
    if endpoint == "/_emulator/faults" and method == "GET":
        return Response(200, {"rules": app.faults.documents()})
    if endpoint == "/_emulator/faults" and method == "PUT":
        return _put_faults(app, body)
    if endpoint == "/_emulator/faults" and method == "DELETE":
        app.faults.clear()
        return Response(200, {"rules": []})
    if endpoint == "/_emulator/requests" and method == "GET":
        return _requests(app, query)
    if endpoint == "/_emulator/reset" and method == "POST":
        app.reset()
        return Response(200, {"reset": True})
    if endpoint == "/_emulator/rotation/tick" and method == "POST":
        return Response(200, {"rotated": run_tick(app.store, now=now())})
    if endpoint == "/_emulator/health" and method == "GET":
        return Response(200, {"status": "ok"})
    raise ApiError(404, "NotFound", f"No control endpoint {method} {endpoint}.")
