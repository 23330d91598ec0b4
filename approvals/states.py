"""The request state machine (PRODUCT.md §6): one table, one helper that also audits."""

from __future__ import annotations

from django.utils import timezone

from approvals.models import DECIDED_STATES, FINISHED_STATES, AttemptOutcome, ChangeRequest, State
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from core.errors import IllegalTransition

# Leaving PENDING is a decision (sets decided_at); leaving RUNNING a finish (sets finished_at).
ALLOWED: dict[str, set[str]] = {
    State.PENDING: set(DECIDED_STATES),
    State.APPROVED: {State.RUNNING},
    State.RUNNING: set(FINISHED_STATES),
    State.FAILED: {State.APPROVED},  # a custodian's retry
}
# An execution attempt's outcomes (approvals.lease.finish goes through this table): only a
# RUNNING attempt ends, and it ends once.
ATTEMPT_ALLOWED: dict[str, set[str]] = {
    AttemptOutcome.RUNNING: {
        AttemptOutcome.SUCCEEDED,
        AttemptOutcome.FAILED,
        AttemptOutcome.TRANSIENT,
        AttemptOutcome.ABANDONED,
    },
}


def provenance(change: ChangeRequest) -> dict:
    """What every audit event of a rotation schedule's run names: the request that set the
    schedule (whose approval it runs under) and that request's payload hash."""
    if change.schedule_request_id is None:
        return {}
    return {
        "schedule_request": str(change.schedule_request_id),
        "schedule_payload_hash": change.schedule_request.payload_hash,
    }


def ensure_can_move(change: ChangeRequest, to: str) -> None:
    if to not in ALLOWED.get(change.state, set()):
        raise IllegalTransition(change.state, to)


def move(
    change: ChangeRequest,
    to: str,
    *,
    ctx: AuditContext,
    action: Action | None = None,
    after: dict | None = None,
    hsm_request_id: str = "",
    also_save: tuple[str, ...] = (),
) -> None:
    """Change state (caller holds the row lock, inside a transaction) and record the event;
    `also_save` names other fields the caller changed, written in the same UPDATE.
    Raises IllegalTransition (the API answers 409)."""
    ensure_can_move(change, to)
    old, change.state = change.state, to
    now = timezone.now()
    fields = ["state", "updated_at", *also_save]
    if to in DECIDED_STATES and old == State.PENDING:
        change.decided_at = now
        fields.append("decided_at")
    if to in FINISHED_STATES:
        change.finished_at = now
        fields.append("finished_at")
    change.save(update_fields=fields)
    record_event(
        ctx,
        action or Action.for_state(to),
        target=change,
        before={"state": old},
        after={"state": to, **(after or {}), **provenance(change)},
        hsm_request_id=hsm_request_id,
    )
