"""What a finding's fix action opens: the matching request form, pre-filled, through the normal
submission and dual approval. Only key-scoped assignments have one (role.revoke on the key's
team); `/` and `/keys` assignments are the HSM administrators' to change outside Keywarden."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from keys.models import ManagedKey
from keys.services.teams import key_name_of_scope
from posture.models import Finding


@dataclass(frozen=True)
class Fix:
    label: str
    url: str


def fixes_for(findings: list[Finding]) -> dict[int, list[Fix]]:
    """Fix actions per finding id (two queries in all, whatever the number of findings)."""
    scoped = {
        finding.pk: [
            (assignment, key_name_of_scope(assignment.get("scope", "")))
            for assignment in finding.evidence.get("assignments", [])
        ]
        for finding in findings
        if finding.resolved_at is None
    }
    names = {name for pairs in scoped.values() for _, name in pairs if name}
    teams = dict(
        ManagedKey.objects.filter(name__in=names, team__isnull=False).values_list(
            "name", "team__slug"
        )
    )
    revoke = reverse("approvals:request-new", args=["role.revoke"])
    return {
        pk: [
            Fix(
                f"Revoke {assignment.get('role', '')} on {name}",
                f"{revoke}?{urlencode({'team': teams[name], 'assignment': assignment['name']})}",
            )
            for assignment, name in pairs
            if name in teams
        ]
        for pk, pairs in scoped.items()
    }
