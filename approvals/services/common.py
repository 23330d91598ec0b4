"""Helpers every request service shares: the row lock and the payload integrity check."""

from __future__ import annotations

from uuid import UUID

from django.db.models.functions import Lower

from accounts.models import Team
from approvals.models import OPEN_STATES, ChangeRequest
from approvals.operations.bulk import targets_of
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


def ensure_keys_free(team: Team, keys: list[str], *, besides: ChangeRequest | None = None) -> None:
    """No other open request holds any of `keys` (one open request per key, bulk requests
    included: the database constraint sees only each request's key_name). Locks the team row
    until the transaction ends, so two submissions for the team check one after the other.
    Raises Conflict naming the keys."""
    Team.objects.select_for_update().filter(pk=team.pk).first()
    wanted = {key.lower() for key in keys}  # key names in any case, as the HSM compares them
    others = ChangeRequest.objects.filter(state__in=OPEN_STATES, team=team)
    if besides is not None:
        others = others.exclude(pk=besides.pk)
    held = set(
        others.alias(key_lower=Lower("key_name"))
        .filter(key_lower__in=wanted)
        .values_list("key_name", flat=True)
    )
    for targets in others.filter(params__has_key="targets").values_list(
        "params__targets", flat=True
    ):
        held |= {target for target in targets if target.lower() in wanted}
    if held:
        raise Conflict(
            f"Another request on key {', '.join(sorted(held))} is still open; wait for it or "
            "cancel it first."
        )


def keys_of(change: ChangeRequest) -> list[str]:
    """The keys a stored request acts on (a bulk request's targets, else its key)."""
    return targets_of(change.params) if "targets" in change.params else [change.key_name]
