"""Which team owns a key: the team whose key prefix the name starts with (longest wins)."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Team


@dataclass(frozen=True)
class TeamResolver:
    """Teams loaded once per use case (a handful of rows), matched in memory per key."""

    teams: tuple[Team, ...]

    @classmethod
    def load(cls) -> TeamResolver:
        return cls(tuple(sorted(Team.objects.all(), key=lambda t: -len(t.key_prefix))))

    def owner_of(self, key_name: str) -> Team | None:
        return next((team for team in self.teams if key_name.startswith(team.key_prefix)), None)


def key_name_of_scope(scope: str) -> str | None:
    """`/keys/pay-orders` → `pay-orders`; broader scopes (`/`, `/keys`) → None."""
    parts = scope.strip("/").split("/")
    return parts[1] if len(parts) == 2 and parts[0] == "keys" and parts[1] else None
