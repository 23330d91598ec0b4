"""Domain errors raised by services; `portal.api.exception_handler` maps them to HTTP."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    default_message = "The operation could not be carried out."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class Invalid(DomainError):
    """Bad input (HTTP 400). `errors` maps field names (dotted for nested) to messages."""

    default_message = "The input is not valid."

    def __init__(self, errors: dict[str, list[str]] | str, message: str | None = None) -> None:
        self.errors = {"non_field_errors": [errors]} if isinstance(errors, str) else errors
        first = next(iter(self.errors.values()), [None])[0]
        super().__init__(message or first or self.default_message)


class NotAllowed(DomainError):
    """The user may not do this (HTTP 403)."""

    default_message = "You are not allowed to do this."


class NotFound(DomainError):
    """Nothing the user may see has this identity (HTTP 404)."""

    default_message = "Not found."


class Conflict(DomainError):
    """The request conflicts with the current state (HTTP 409)."""

    default_message = "The request conflicts with the current state."


class IllegalTransition(Conflict):
    """A state change the state machine does not allow (HTTP 409)."""

    def __init__(self, current: str, target: str) -> None:
        self.current, self.target = current, target
        super().__init__(f"Cannot move from '{current}' to '{target}'.")
