"""The service's error envelope as an exception: routes and the store raise, the server renders."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error response: HTTP status plus ``{"error": {"code", "message", "innererror"}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        inner: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"({code}) {message}")
        self.status = status
        self.code = code
        self.message = message
        self.inner = inner
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON document the service sends for this error."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner:
            error["innererror"] = {"code": self.inner}
        return {"error": error}


def bad_parameter(message: str, *, inner: str | None = None) -> ApiError:
    """400 BadParameter: malformed body, unsupported value, failed validation."""
    return ApiError(400, "BadParameter", message, inner=inner)


def key_not_found(name: str, version: str | None = None) -> ApiError:
    """404 KeyNotFound with the service's wording."""
    ident = f"{name}/{version}" if version else name
    return ApiError(404, "KeyNotFound", f"A key with (name/id) {ident} was not found in this HSM.")


def deleted_key_not_found(name: str) -> ApiError:
    """404 KeyNotFound for the deleted-keys collection."""
    return ApiError(404, "KeyNotFound", f"Deleted Key not found: {name}")


def deleted_but_recoverable(name: str) -> ApiError:
    """409 Conflict when a soft-deleted name is reused."""
    return ApiError(
        409,
        "Conflict",
        f"Key {name} is currently in a deleted but recoverable state, and its name cannot be "
        "reused; in this state, the key can only be recovered or purged.",
        inner="ObjectIsDeletedButRecoverable",
    )


def conflict(message: str, *, inner: str | None = None) -> ApiError:
    """409 Conflict."""
    return ApiError(409, "Conflict", message, inner=inner)


def forbidden(message: str, *, inner: str | None = None) -> ApiError:
    """403 Forbidden (key state, purge protection), not an RBAC denial."""
    return ApiError(403, "Forbidden", message, inner=inner)


def access_denied(data_action: str, scope: str, activity_id: str) -> ApiError:
    """403 AccessDenied exactly as Managed HSM local RBAC words it."""
    return ApiError(
        403,
        "AccessDenied",
        f"Not authorized to access Microsoft.KeyVault/managedHsm/{data_action} on {scope} "
        f"(Activity ID: {activity_id})",
    )


def unauthorized(message: str) -> ApiError:
    """401 Unauthorized for a bearer token the emulator cannot accept."""
    return ApiError(401, "Unauthorized", message)


def not_found(code: str, message: str) -> ApiError:
    """404 with a specific code (RoleAssignmentNotFound, RoleDefinitionNotFound, …)."""
    return ApiError(404, code, message)
