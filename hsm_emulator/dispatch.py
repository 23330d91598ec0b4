"""One data-plane request from bytes to Response, in the service's order:

401 challenge (no token) → token validation → fault injection → api-version → route → RBAC →
handler. Every outcome is logged for ``/_emulator/requests``; control paths bypass all of it.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from hsm_emulator import RESOURCE, routes
from hsm_emulator.errors import ApiError, bad_parameter
from hsm_emulator.faults import FaultRule
from hsm_emulator.keyspec import check_name
from hsm_emulator.limits import request_key_type
from hsm_emulator.routes.control import handle_control
from hsm_emulator.tokens import authenticate
from hsm_emulator.wire import Request, Response, collapse_slashes

LOGGER = logging.getLogger("hsm_emulator.dispatch")
API_VERSIONS = frozenset(
    {"7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2016-10-01", "2025-07-01"}
)
CONTROL_PREFIX = "/_emulator"


@dataclass(frozen=True)
class Drop:
    """Close the connection without any response (fault action "drop")."""


@dataclass(frozen=True)
class Incoming:
    """The raw request as the HTTP layer read it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    peer: str
    local_port: int


def challenge(app: Any) -> Response:
    """The bare 401 the SDK's first (probe) request receives."""
    header = (
        f'Bearer authorization="https://login.microsoftonline.com/{app.config.tenant_id}", '
        f'resource="{RESOURCE}"'
    )
    return Response(401, None, {"WWW-Authenticate": header})


def _error(error: ApiError) -> Response:
    return Response(error.status, error.body(), dict(error.headers))


def _fault_response(rule: FaultRule) -> Response:
    message = rule.message or f"Injected fault: {rule.error_code}."
    headers = {}
    retry_after = rule.retry_after_header()
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return Response(rule.status, {"error": {"code": rule.error_code, "message": message}}, headers)


def _base_url(incoming: Incoming) -> str:
    host = incoming.headers.get("host") or f"127.0.0.1:{incoming.local_port}"
    return f"https://{host}"


def handle(app: Any, incoming: Incoming) -> Response | Drop:
    """Serve one request; the result is a Response or a Drop."""
    raw_path, _, query_string = incoming.target.partition("?")
    path = collapse_slashes(raw_path)
    if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
        try:
            response = handle_control(
                app, incoming.method, path, query_string, incoming.body, incoming.peer
            )
        except ApiError as error:
            response = _error(error)
        response.headers["x-ms-request-id"] = str(uuid.uuid4())
        return response
    request = Request(
        method=incoming.method,
        path=path,
        query=dict(parse_qsl(query_string, keep_blank_values=True)),
        headers=incoming.headers,
        body=incoming.body,
        base_url=_base_url(incoming),
        request_id=str(uuid.uuid4()),
    )
    outcome, fault = _serve(app, request)
    status = None if isinstance(outcome, Drop) else outcome.status
    principal = request.caller.object_id if request.caller else None
    app.log.record(
        request.method,
        path,
        status,
        principal,
        fault=fault,
        request_id=request.request_id,
        body=request.body,
    )
    if isinstance(outcome, Response):
        outcome.headers["x-ms-request-id"] = request.request_id
    return outcome


def _serve(app: Any, request: Request) -> tuple[Response | Drop, bool]:
    authorization = request.headers.get("authorization")
    if not authorization:
        return challenge(app), False
    try:
        request.caller = authenticate(authorization)
    except ApiError as error:
        response = _error(error)
        response.headers.update(challenge(app).headers)
        return response, False
    latency_ms, rule = app.faults.pick(request.method, request.path)
    if latency_ms:
        time.sleep(latency_ms / 1000)
    if rule is not None and rule.action == "drop":
        return Drop(), True
    if rule is not None:
        return _fault_response(rule), True
    try:
        return _route(app, request), False
    except ApiError as error:
        return _error(error), False
    except Exception:
        # An emulator bug answers 500 like a service fault and stays visible in the log,
        # instead of killing the connection's thread without a response.
        LOGGER.exception("request.failed %s %s", request.method, request.path)
        body = {"error": {"code": "InternalServerError", "message": "Unexpected emulator error."}}
        return Response(500, body), False


def _route(app: Any, request: Request) -> Response:
    found = routes.match(request.method, request.path)
    if found is None:
        raise ApiError(404, "NotFound", f"The requested path {request.path} does not exist.")
    if found is False:
        raise bad_parameter(f"Method {request.method} is not supported on {request.path}.")
    matched, raw_params = found
    params = {name: unquote(value) for name, value in raw_params.items()}
    if "name" in params:
        check_name(params["name"])  # every key route, as the service: matched in full
    api_version = request.query.get("api-version")
    if api_version is None and matched.needs_api_version:
        raise bad_parameter("The 'api-version' query parameter is required.")
    if api_version is not None and api_version not in API_VERSIONS:
        raise bad_parameter(
            f"The specified version ({api_version}) is not recognized. Consider using the "
            "latest supported version (2025-07-01)."
        )
    app.security_domain.ensure_activated(request.path)
    scope = matched.scope(params)
    action = routes.required_action(matched, params)
    app.authorize(request.principal, action, scope, request.request_id)
    if app.limits.enabled:  # --enforce-service-limits: 429 before the operation runs
        app.limits.admit(action, request_key_type(app, action, request.body, params))
    return matched.handler(app, request, params)
