"""Small wire codecs shared by the emulator: base64url, JSON bodies, optional fields."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from hsm_emulator.errors import bad_parameter


def full_match(pattern: re.Pattern[str], text: Any) -> bool:
    """Whether ``text`` is a string ``pattern`` matches as a whole: the one way the emulator
    checks names (``^…$`` would also pass a trailing newline)."""
    return isinstance(text, str) and pattern.fullmatch(text) is not None


def b64url_encode(data: bytes) -> str:
    """Base64url without padding, as the service emits every binary field."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, *, field: str = "value") -> bytes:
    """Decode base64url, padded or not (the SDK strips padding; others may not)."""
    if not isinstance(text, str):
        raise bad_parameter(f"The parameter '{field}' must be a base64url string.")
    cleaned = text.strip().rstrip("=")
    try:
        return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (ValueError, TypeError) as exc:
        raise bad_parameter(f"The parameter '{field}' is not valid base64url.") from exc


def parse_json_object(body: bytes) -> dict[str, Any]:
    """Parse a request body that must be a JSON object; anything else is 400 BadParameter."""
    if not body:
        raise bad_parameter("The request body is missing; a JSON object is required.")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_parameter(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise bad_parameter("The request body must be a JSON object.")
    return document


def optional_int(value: Any, field: str) -> int | None:
    """An optional integer field (nbf, exp, count); booleans and floats with fractions refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise bad_parameter(f"The parameter '{field}' must be an integer.")
    return int(value)


def optional_bool(value: Any, field: str) -> bool | None:
    """An optional boolean field (enabled, exportable, immutable)."""
    if value is None or isinstance(value, bool):
        return value
    raise bad_parameter(f"The parameter '{field}' must be a boolean.")
