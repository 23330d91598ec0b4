"""The one way identifiers and query text are matched: in full (`re.fullmatch`, or a pattern
written `\\A…\\Z`), since `$` also matches before a final newline, and never with a control
character (a NUL cannot even reach PostgreSQL). Validators, filters and views all use these."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_CHARACTER_MESSAGE = "Must not contain control characters (newline, tab, NUL)."


def full_match(pattern: str | re.Pattern[str], text: Any) -> bool:
    """Whether `text` is a string that `pattern` matches as a whole."""
    return isinstance(text, str) and re.fullmatch(pattern, text) is not None


def has_control_characters(text: str) -> bool:
    """Whether `text` holds a newline, tab, NUL or another C0 control character."""
    return CONTROL_CHARACTERS.search(text) is not None


def refuse_control_characters(value: Any) -> None:
    """A Django validator: text with a control character is refused."""
    if isinstance(value, str) and has_control_characters(value):
        raise ValidationError(CONTROL_CHARACTER_MESSAGE, code="control_character")
