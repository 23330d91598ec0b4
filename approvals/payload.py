"""The canonical payload of a request and its SHA-256: what custodians approve is what runs.

It names the team and the requester by id, never by slug or username: an Entra ID rename or
a slug edit must not turn an honest pending request into a "tampered" one."""

from __future__ import annotations

import hashlib

from core.canonical import canonical_bytes


def canonical_payload(
    *, operation: str, team_id: int, params: dict, justification: str, requester_id: int
) -> bytes:
    body = {
        "operation": operation,
        "team_id": team_id,
        "params": params,
        "justification": justification,
        "requester_id": requester_id,
    }
    return canonical_bytes(body)


def payload_hash_of(change) -> str:
    """Recompute the hash from the stored row (detects a payload edited after submission)."""
    return hashlib.sha256(
        canonical_payload(
            operation=change.operation,
            team_id=change.team_id,
            params=change.params,
            justification=change.justification,
            requester_id=change.requester_id,
        )
    ).hexdigest()
