"""Domain errors of the HSM gateway: callers never see Azure SDK exception types."""

from __future__ import annotations


class HsmError(Exception):
    """An HSM call failed. Carries the HSM's own message, error code and request id."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        status: int | None = None,
        request_id: str = "",
        operation: str = "",
    ) -> None:
        self.message, self.code, self.status = message, code, status
        self.request_id, self.operation = request_id, operation
        super().__init__(message)

    def as_dict(self) -> dict:
        return {
            "error": type(self).__name__,
            "code": self.code,
            "status": self.status,
            "message": self.message,
            "hsm_request_id": self.request_id,
            "operation": self.operation,
        }


class HsmNotFound(HsmError):
    """404: no such key, deleted key, role assignment or definition."""


class HsmConflict(HsmError):
    """409: the name is taken, or the key is deleted but recoverable."""


class HsmForbidden(HsmError):
    """401/403: Keywarden's identity lacks the data action, or the key refuses the operation."""


class HsmInvalid(HsmError):
    """400 and other permanent client errors: the HSM rejected the request itself."""


class HsmTransientError(HsmError):
    """Worth trying again later: `retry_after` seconds when the HSM said so."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class HsmThrottled(HsmTransientError):
    """429: the HSM is rate limiting Keywarden."""


class HsmUnavailable(HsmTransientError):
    """5xx, connection failures and timeouts.

    `maybe_applied` is True when the request may have reached the HSM before the connection
    broke; callers must check the HSM's state before repeating a non-idempotent operation."""

    def __init__(self, message: str, *, maybe_applied: bool = False, **kwargs) -> None:
        self.maybe_applied = maybe_applied
        super().__init__(message, **kwargs)
