"""Request/response records shared by the dispatcher and the route handlers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hsm_emulator.codec import parse_json_object
from hsm_emulator.tokens import Caller

_REPEATED_SLASHES = re.compile(r"/{2,}")


def collapse_slashes(path: str) -> str:
    """``//`` → ``/``: empty version segments mean "latest" and RBAC scopes may arrive doubled."""
    return _REPEATED_SLASHES.sub("/", path) or "/"


@dataclass
class Request:
    """One parsed data-plane request."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    base_url: str
    request_id: str
    caller: Caller | None = None

    def json(self) -> dict[str, Any]:
        """The body as a JSON object (400 BadParameter when missing or malformed)."""
        return parse_json_object(self.body)

    def json_or_empty(self) -> dict[str, Any]:
        """The body as a JSON object, or ``{}`` for operations whose body is optional."""
        return parse_json_object(self.body) if self.body.strip() else {}

    @property
    def principal(self) -> str:
        """The caller's object id (routes only run for authenticated requests)."""
        assert self.caller is not None
        return self.caller.object_id


@dataclass
class Response:
    """Status, JSON body (None for an empty body) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Any, Request, dict[str, str]], Response]


@dataclass(frozen=True)
class Route:
    """A method + path pattern, the data action it needs and how to derive its RBAC scope."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    action: str | None
    scope: Callable[[dict[str, str]], str]
    needs_api_version: bool = True


def route(
    method: str,
    pattern: str,
    handler: Handler,
    action: str | None,
    scope: Callable[[dict[str, str]], str],
    *,
    needs_api_version: bool = True,
) -> Route:
    """Build a Route from a regex written without anchors (routes match paths in full)."""
    return Route(
        method, re.compile(pattern, re.IGNORECASE), handler, action, scope, needs_api_version
    )
