"""Helpers every request service shares: the row lock and the payload integrity check."""

from __future__ import annotations

from uuid import UUID

from approvals.models import ChangeRequest
from approvals.payload import payload_hash_of
from core.errors import Conflict, NotFound


def lock_request(request_id: UUID) -> ChangeRequest:
    """The request row, locked until the transaction ends. Raises NotFound."""
    change = (
        ChangeRequest.objects.select_for_update(of=("self",))
        .select_related("team", "requester", "schedule_request")
        .filter(pk=request_id)
        .first()
    )
    if change is None:
        raise NotFound("No such request.")
    return change


def ensure_payload_intact(change: ChangeRequest) -> None:
    """The stored payload still hashes to what was submitted and approved."""
    if payload_hash_of(change) != change.payload_hash:
        raise Conflict(
            "The request's payload no longer matches its hash; it was altered "
            "after submission and cannot be approved or executed."
        )
