"""``/_emulator/...`` control endpoints: fault rules, request log, reset, rotation tick, clock,
trusted attestation authorities, purge protection and retention, and internal stats for tests
(cache, job runner, pool).
Loopback peers only, no bearer token, never logged or faulted themselves."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs

from hsm_emulator.attestation import parse_authority
from hsm_emulator.clock import ClockBackwards, parse_offset
from hsm_emulator.codec import parse_json_object
from hsm_emulator.errors import ApiError, bad_parameter
from hsm_emulator.faults import parse_rule
from hsm_emulator.limits import parse_limits_body
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


def _move_clock(app: Any, body: bytes) -> Response:
    """``{"advance": "P90D" | seconds}`` or ``{"offset_seconds": N}``; never backwards."""
    document = parse_json_object(body)
    fields = [name for name in ("advance", "offset_seconds") if name in document]
    if len(fields) != 1:
        raise bad_parameter('The body must be {"advance": "P90D"} or {"offset_seconds": N}.')
    try:
        seconds = parse_offset(document[fields[0]])
        if fields[0] == "advance":
            app.clock.advance(seconds)
        else:
            app.clock.move_to(seconds)
    except ClockBackwards as exc:
        raise bad_parameter(str(exc)) from exc
    except ValueError as exc:
        raise bad_parameter(f"'{fields[0]}': {exc}.") from exc
    return Response(200, app.clock.document())


def _authorities(app: Any, method: str, body: bytes) -> Response:
    """GET lists, PUT ``{"authorities": [...]}`` replaces, POST ``{"issuer", "jwks"}`` adds one."""
    if method == "PUT":
        documents = parse_json_object(body).get("authorities")
        if not isinstance(documents, list):
            raise bad_parameter('The body must be {"authorities": [...]}.')
        app.attestation.replace([parse_authority(document) for document in documents])
    elif method == "POST":
        app.attestation.add(parse_authority(parse_json_object(body)))
    elif method != "GET":
        raise bad_parameter(f"Method {method} is not supported on this control endpoint.")
    return Response(200, {"authorities": app.attestation.documents()})


def _recovery(app: Any, method: str, body: bytes) -> Response:
    """``GET``/``PUT /_emulator/recovery``: ``{"purge_protection": bool, "retention_days": 7-90}``
    (either or both). What a real HSM's owner sets on the Azure resource (ARM); keys then report
    it as ``recoveryLevel``/``recoverableDays``. A reset returns to the command line's values."""
    if method == "PUT":
        document = parse_json_object(body)
        unknown = set(document) - {"purge_protection", "retention_days"}
        if unknown or not document:
            raise bad_parameter(
                'The body must be {"purge_protection": true|false, "retention_days": 7-90}.'
            )
        protection = document.get("purge_protection", app.config.purge_protection)
        retention = document.get("retention_days", app.config.retention_days)
        if not isinstance(protection, bool):
            raise bad_parameter("'purge_protection' must be true or false.")
        if isinstance(retention, bool) or not isinstance(retention, int):
            raise bad_parameter("'retention_days' must be a whole number of days.")
        if not 7 <= retention <= 90:
            raise bad_parameter("'retention_days' must be 7-90.")
        app.config = replace(app.config, purge_protection=protection, retention_days=retention)
    elif method != "GET":
        raise bad_parameter(f"Method {method} is not supported on this control endpoint.")
    return Response(
        200,
        {
            "purge_protection": app.config.purge_protection,
            "retention_days": app.config.retention_days,
            "recovery_level": app.recovery_level,
        },
    )


def _stats(app: Any) -> dict[str, Any]:
    """Internal state tests check consistency against (never needed by a client of the HSM)."""
    return {
        "running_job": app.jobs.running,
        "cached_key_versions": app.store.keys.cached_versions(),
        "cached_key_versions_not_stored": app.store.keys.cached_versions_not_stored(),
        "db_connections": app.store.db.open_connections,
        "db_max_connections": app.store.db.max_connections,
    }


def _limits(app: Any, method: str, body: bytes) -> Response:
    """``GET``/``PUT /_emulator/limits``: the service-limits mode (hsm_emulator.limits)."""
    if method == "PUT":
        app.limits.configure(**parse_limits_body(parse_json_object(body)))
    return Response(200, app.limits.document())


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
        return Response(200, {"rotated": run_tick(app.store, now=app.clock.now())})
    if endpoint == "/_emulator/clock" and method == "GET":
        return Response(200, app.clock.document())
    if endpoint == "/_emulator/clock" and method == "POST":
        return _move_clock(app, body)
    if endpoint == "/_emulator/attestation/authorities":
        return _authorities(app, method, body)
    if endpoint == "/_emulator/recovery":
        return _recovery(app, method, body)
    if endpoint == "/_emulator/stats" and method == "GET":
        return Response(200, _stats(app))
    if endpoint == "/_emulator/limits" and method in ("GET", "PUT"):
        return _limits(app, method, body)
    if endpoint == "/_emulator/health" and method == "GET":
        return Response(200, {"status": "ok"})
    raise ApiError(404, "NotFound", f"No control endpoint {method} {endpoint}.")
