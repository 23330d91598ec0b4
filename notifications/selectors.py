"""Reads of the notifications app: a user's inbox, unread count and preferences, a team's
chat channels as pages may show them."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Team, User
from notifications.chat import masked
from notifications.models import (
    KIND_CHANNELS,
    Channel,
    Delivery,
    Kind,
    Preference,
    TeamChannels,
)


def inbox_of(user: User) -> QuerySet[Delivery]:
    """The user's own in-app items, newest first; nobody else's ever."""
    return (
        Delivery.objects.filter(user=user, channel=Channel.INAPP)
        .select_related("notice")
        .order_by("-notice__created_at", "-pk")
    )


def unread_count(user: User) -> int:
    """How many of the user's inbox items are unread (one COUNT on an index)."""
    return Delivery.objects.filter(user=user, channel=Channel.INAPP, read_at__isnull=True).count()


def preferences_of(user: User) -> dict[str, set[str]]:
    """kind → the personal channels that are on for the user (no row: on)."""
    off = set(Preference.objects.filter(user=user, is_enabled=False).values_list("kind", "channel"))
    return {
        kind: {channel for channel in KIND_CHANNELS[kind] if (kind, channel) not in off}
        for kind in Kind
    }


def masked_channels_of(team: Team) -> dict[str, str]:
    """The team's webhook URLs masked (scheme, host, last four characters), "" when unset."""
    row = TeamChannels.objects.filter(team=team).first()
    if row is None:
        return {"teams": "", "slack": ""}
    return {"teams": masked(row.teams_webhook_url), "slack": masked(row.slack_webhook_url)}
