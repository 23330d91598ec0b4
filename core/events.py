"""The one thing lower layers need from the audit trail: something to record an event with.

`audit.context.AuditContext` implements it, so a service in `accounts` takes `ctx` and records
its changes without importing `audit` (which stands on `accounts`)."""

from __future__ import annotations

from typing import Any, Protocol


class EventRecorder(Protocol):
    def record(
        self,
        action: str,
        *,
        target: Any,
        team: Any = None,
        before: Any = None,
        after: Any = None,
    ) -> object:
        """Append one event in the caller's transaction (it exists iff that commits)."""
