"""Who may change the keys app's own settings (STYLE §2 predicates): the services call them
right after the lock, views and the API to offer the same actions."""

from __future__ import annotations

from accounts.models import User
from accounts.roles import ROTATION_STANDARD_EDIT_ROLES
from core.decisions import ALLOWED, Decision, Refused


def can_edit_rotation_standard(user: User) -> Decision:
    """Admins edit rotation standards and their team overrides."""
    if not user.roles & ROTATION_STANDARD_EDIT_ROLES:
        return Refused("Only admins edit rotation standards.")
    return ALLOWED
