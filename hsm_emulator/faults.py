"""Fault injection rules and the request log behind the ``/_emulator`` control endpoints.

Rules are checked for authenticated data-plane requests before the operation runs, so a faulted
request changes nothing. Each rule matches a regex against ``"METHOD /path"`` and fires for the
next ``count`` matches or for a ``rate`` fraction of them (always, when neither is given).
"""

from __future__ import annotations

import collections
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from hsm_emulator.errors import bad_parameter

DEFAULT_CODES = {
    400: "BadParameter",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    429: "Throttled",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}
ACTIONS = ("error", "drop", "delay")
REQUEST_LOG_SIZE = 20000
LOGGED_BODY_BYTES = 16 * 1024  # larger bodies are logged as None (memory: 20 000 entries)


@dataclass
class FaultRule:
    """One rule; ``remaining`` counts down for count rules (None = unlimited)."""

    match: str
    action: str = "error"
    status: int = 503
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None
    remaining: int | None = None
    rate: float | None = None
    latency_ms: int = 0
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pattern = re.compile(self.match)

    def document(self) -> dict[str, Any]:
        """The rule as ``GET /_emulator/faults`` reports it."""
        return {
            "match": self.match,
            "action": self.action,
            "status": self.status,
            "code": self.error_code,
            "message": self.message,
            "retry_after": self.retry_after,
            "count": self.remaining,
            "rate": self.rate,
            "latency_ms": self.latency_ms,
        }

    @property
    def error_code(self) -> str:
        """The error code sent with the injected status."""
        return self.code or DEFAULT_CODES.get(self.status, "InternalServerError")

    def retry_after_header(self) -> str | None:
        """Retry-After is sent only with 429/503 (it makes the SDK retry anything)."""
        if self.status not in (429, 503):
            return None
        value = 1 if self.retry_after is None else self.retry_after
        return str(int(value)) if float(value).is_integer() else str(value)


def _number(rule: dict[str, Any], name: str, kind: type, low: float, high: float | None) -> Any:
    value = rule.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad_parameter(f"Fault rule '{name}' must be a number.")
    if value < low or (high is not None and value > high):
        raise bad_parameter(f"Fault rule '{name}' is out of range: {value}")
    return kind(value)


def parse_rule(rule: Any) -> FaultRule:
    """Validate one rule document from ``PUT /_emulator/faults``."""
    if not isinstance(rule, dict) or not isinstance(rule.get("match"), str):
        raise bad_parameter("Each fault rule needs a 'match' regex string.")
    action = rule.get("action", "error")
    if action not in ACTIONS:
        raise bad_parameter(f"Fault rule 'action' must be one of {', '.join(ACTIONS)}.")
    if rule.get("count") is not None and rule.get("rate") is not None:
        raise bad_parameter("A fault rule takes 'count' or 'rate', not both.")
    try:
        return FaultRule(
            match=rule["match"],
            action=action,
            status=_number(rule, "status", int, 100, 599) or 503,
            code=rule.get("code"),
            message=rule.get("message"),
            retry_after=_number(rule, "retry_after", float, 0, None),
            remaining=_number(rule, "count", int, 0, None),
            rate=_number(rule, "rate", float, 0, 1),
            latency_ms=_number(rule, "latency_ms", int, 0, None) or 0,
        )
    except re.error as exc:
        raise bad_parameter(f"Fault rule 'match' is not a valid regex: {exc}") from exc


class FaultTable:
    """The live rule list, changed by the control endpoint while requests are served."""

    def __init__(self, rules: list[FaultRule] | None = None) -> None:
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = list(rules or [])
        self._random = random.Random()

    def replace(self, rules: list[FaultRule]) -> None:
        """Install a new rule list (replacing the old one)."""
        with self._lock:
            self._rules = list(rules)

    def clear(self) -> None:
        """Remove every rule."""
        self.replace([])

    def documents(self) -> list[dict[str, Any]]:
        """Current rules with remaining counts."""
        with self._lock:
            return [rule.document() for rule in self._rules]

    def _fires(self, rule: FaultRule) -> bool:
        if rule.remaining is not None:
            if rule.remaining <= 0:
                return False
            rule.remaining -= 1
            return True
        return rule.rate is None or self._random.random() < rule.rate

    def pick(self, method: str, path: str) -> tuple[int, FaultRule | None]:
        """(total delay in ms, first error/drop rule that fires) for one request.

        Delay rules add up and never stop the search, so a latency rule can sit in front of
        error rules; count rules are consumed when they fire and removed once spent.
        """
        target = f"{method} {path}"
        latency_ms = 0
        with self._lock:
            for rule in list(self._rules):
                if not rule.pattern.search(target) or not self._fires(rule):
                    continue
                if rule.remaining == 0:
                    self._rules.remove(rule)
                latency_ms += rule.latency_ms
                if rule.action != "delay":
                    return latency_ms, rule
        return latency_ms, None


@dataclass(frozen=True)
class LoggedRequest:
    """One entry of the request log."""

    seq: int
    time: float
    method: str
    path: str
    status: int | None
    principal: str | None
    fault: bool
    request_id: str
    body: Any = None

    def document(self) -> dict[str, Any]:
        """The entry as ``GET /_emulator/requests`` reports it."""
        return {
            "seq": self.seq,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "status": self.status,
            "principal": self.principal,
            "fault": self.fault,
            "request_id": self.request_id,
            "body": self.body,
        }


def logged_body(raw: bytes) -> Any:
    """A request body as the log keeps it: its JSON when small enough, else None."""
    if not raw or len(raw) > LOGGED_BODY_BYTES:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


class RequestLog:
    """Bounded ring buffer of data-plane requests with a monotonically increasing ``seq``."""

    def __init__(self, size: int = REQUEST_LOG_SIZE) -> None:
        self._lock = threading.Lock()
        self._entries: collections.deque[LoggedRequest] = collections.deque(maxlen=size)
        self._seq = 0

    def record(
        self,
        method: str,
        path: str,
        status: int | None,
        principal: str | None,
        *,
        fault: bool,
        request_id: str,
        body: bytes = b"",
    ) -> None:
        """Append one request (status None for a dropped connection) with its JSON body."""
        with self._lock:
            self._seq += 1
            self._entries.append(
                LoggedRequest(
                    self._seq,
                    time.time(),
                    method,
                    path,
                    status,
                    principal,
                    fault,
                    request_id,
                    logged_body(body),
                )
            )

    def since(self, seq: int) -> tuple[list[dict[str, Any]], int]:
        """Entries with ``seq`` greater than the given one, and the latest seq."""
        with self._lock:
            entries = [entry.document() for entry in self._entries if entry.seq > seq]
            return entries, self._seq
