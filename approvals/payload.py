"""The canonical payload of a request and its SHA-256: what custodians approve is what runs."""

from __future__ import annotations

import hashlib

from core.canonical import canonical_bytes


def canonical_payload(
    *, operation: str, team_slug: str, params: dict, justification: str, requester: str
) -> bytes:
    body = {
        "operation": operation,
        "team": team_slug,
        "params": params,
        "justification": justification,
        "requester": requester,
    }
    return canonical_bytes(body)


def payload_hash_of(change) -> str:
    """Recompute the hash from the stored row (detects a payload edited after submission)."""
    return hashlib.sha256(
        canonical_payload(
            operation=change.operation,
            team_slug=change.team.slug,
            params=change.params,
            justification=change.justification,
            requester=change.requester.get_username(),
        )
    ).hexdigest()
