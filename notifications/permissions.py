"""Who may change what in notifications: everyone their own inbox and preferences (by
construction: the selectors start from the user), admins a team's chat webhooks."""

from __future__ import annotations

from accounts.models import User
from accounts.roles import CHAT_CHANNEL_EDIT_ROLES
from core.decisions import ALLOWED, Decision, Refused


def can_edit_chat_channels(user: User) -> Decision:
    """Admins set a team's Microsoft Teams and Slack webhooks."""
    if not user.roles & CHAT_CHANNEL_EDIT_ROLES:
        return Refused("Only admins set a team's Microsoft Teams and Slack webhooks.")
    return ALLOWED
