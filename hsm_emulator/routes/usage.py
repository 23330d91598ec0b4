"""Checks every use of a key must pass: enabled, inside nbf/exp, operation in key_ops."""

from __future__ import annotations

from hsm_emulator.errors import forbidden
from hsm_emulator.store import KeyVersion


def require_usable(key: KeyVersion, operation: str, *, now: int, key_op: str | None = None) -> None:
    """403 Forbidden (KeyDisabled / KeyNotYetValidOrExpired / KeyOperationForbidden) or None."""
    if not key.enabled:
        raise forbidden(
            f"Operation {operation} is not allowed on a disabled key.", inner="KeyDisabled"
        )
    if (key.nbf is not None and now < key.nbf) or (key.exp is not None and now >= key.exp):
        raise forbidden(
            f"Operation {operation} is not allowed: the key is not yet valid or has expired.",
            inner="KeyNotYetValidOrExpired",
        )
    if key_op is not None and key_op not in key.key_ops:
        raise forbidden(
            f"Operation {operation} is not permitted on this key.", inner="KeyOperationForbidden"
        )
