"""Audit events the inventory records."""

from __future__ import annotations

from audit.actions import Action
from audit.services import EventSpec


def drift_event(row, previous: list[str], reasons: list[str], **details) -> EventSpec:
    """The `key.drift_detected` event for a key or role assignment whose drift changed."""
    return EventSpec(
        action=Action.KEY_DRIFT_DETECTED,
        target=row,
        team=row.team,
        before={"drift_reasons": previous},
        after={"drift_reasons": reasons, **details},
    )
