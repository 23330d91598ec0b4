"""Submitting a change request: validate everything, write nothing unless all is well."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Team, User
from accounts.services import scheduler_user
from approvals import dispatch, notifications
from approvals.models import MAX_TEXT_LENGTH, ChangeRequest, State
from approvals.operations import Change, OperationSpec, spec_for
from approvals.operations.bulk import is_bulk, targets_of
from approvals.payload import canonical_payload
from approvals.permissions import can_submit, ensure_allowed
from approvals.services.common import ensure_keys_free
from approvals.services.policies import policy_for
from approvals.states import move, provenance
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from core.errors import Conflict, Invalid


@dataclass(frozen=True)
class Draft:
    """A request that passed every check but is not stored: what the preview page shows."""

    spec: OperationSpec
    team: Team
    justification: str
    params: dict
    approvals_required: int
    current: dict | None = None

    @property
    def preview(self) -> str:
        """The planned HSM calls; the request id they carry is assigned on submission."""
        return self.spec.preview(self.params)

    @property
    def changes(self) -> list[Change]:
        """Current → requested per field (the key's values as the inventory has them now)."""
        return self.spec.changes(self.current, self.params, team=self.team)

    @property
    def warnings(self) -> list[str]:
        return self.spec.warnings(self.params)


def draft_request(
    *, requester: User, operation: str, team: str, justification: str, params: dict
) -> Draft:
    """Run every submission check and normalize the params; writes nothing.

    Every problem is reported at once (Invalid with field errors). Raises NotAllowed when
    the requester is not in the team."""
    spec, team_obj, errors = spec_for(operation), Team.objects.filter(slug=team).first(), {}
    if team_obj is not None:
        ensure_allowed(can_submit(requester, team_obj, operation=operation))  # who, before what
    if spec is None:
        errors["operation"] = [f"Unknown operation {operation!r}."]
    if team_obj is None:
        errors["team"] = [f"Unknown team {team!r}."]
    justification = (justification or "").strip()
    if not justification:
        errors["justification"] = ["Explain why this change is needed."]
    elif len(justification) > MAX_TEXT_LENGTH:
        errors["justification"] = [f"At most {MAX_TEXT_LENGTH} characters."]
    if spec is not None and team_obj is not None:
        try:
            params = spec.check(params, team=team_obj)
        except Invalid as invalid:
            errors.update(invalid.errors)
    if errors:
        raise Invalid(errors, "The request is not valid.")
    return Draft(
        spec,
        team_obj,
        justification,
        params,
        policy_for(spec.operation).approvals_required,
        current=spec.current(params),
    )


def submit_request(
    *,
    requester: User,
    operation: str,
    team: str,
    justification: str,
    params: dict,
    ctx: AuditContext,
) -> ChangeRequest:
    """Validate (as `draft_request`) and store a PENDING request; custodians are told after
    commit. Nothing is written when anything is wrong. Raises Invalid, NotAllowed, and
    Conflict when another request on the same key is still open."""
    draft = draft_request(
        requester=requester,
        operation=operation,
        team=team,
        justification=justification,
        params=params,
    )
    return _store(requester, draft.spec, draft.team, draft.justification, draft.params, ctx)


def open_schedule_run(
    *,
    schedule_request: ChangeRequest,
    operation: str,
    params: dict,
    standing: bool,
    reason: str,
    ctx: AuditContext,
) -> ChangeRequest:
    """Open a request for one run of the rotation schedule `schedule_request` set, by the
    scheduler: approved at birth by that standing approval (and dispatched after commit), or
    pending for custodians like any request. Raises Invalid when the run's params no longer
    hold (e.g. the key was deleted) and Conflict when another request on the key is open."""
    spec = spec_for(operation)
    params = spec.check(params, team=schedule_request.team)
    justification = f"{reason} (rotation schedule of request {schedule_request.pk})."
    return _store(
        scheduler_user(),
        spec,
        schedule_request.team,
        justification,
        params,
        ctx,
        schedule_request=schedule_request,
        standing=standing,
    )


def _store(
    requester, spec, team, justification, params, ctx, *, schedule_request=None, standing=False
) -> ChangeRequest:
    policy = policy_for(spec.operation)
    payload = canonical_payload(
        operation=spec.operation,
        team_id=team.pk,
        params=params,
        justification=justification,
        requester_id=requester.pk,
    )
    keys = targets_of(params) if is_bulk(params) else [spec.key_name(params)]
    current = spec.current(params)  # what approvers compare the request with
    try:
        with transaction.atomic():
            ensure_keys_free(team, keys)
            change = ChangeRequest.objects.create(
                operation=spec.operation,
                team=team,
                requester=requester,
                justification=justification,
                params=params,
                key_name=spec.key_name(params),
                payload_hash=hashlib.sha256(payload).hexdigest(),
                state=State.PENDING,
                approvals_required=0 if standing else policy.approvals_required,
                require_independent_approvers=policy.require_independent_approvers,
                expires_at=timezone.now() + policy.max_wait,
                schedule_request=schedule_request,
                current_values=current,
            )
            record_event(
                ctx,
                Action.REQUEST_SUBMITTED,
                target=change,
                after={
                    "operation": change.operation,
                    "params": params,
                    "payload_hash": change.payload_hash,
                    "approvals_required": change.approvals_required,
                    **({"current_values": current} if current is not None else {}),
                    **provenance(change),
                },
            )
            if standing:
                move(change, State.APPROVED, ctx=ctx, after={"by": "standing approval"})
                dispatch.schedule(change, ctx=ctx)
            else:
                transaction.on_commit(
                    partial(notifications.send, notifications.event("awaiting_approval", change))
                )
    except IntegrityError as exc:
        raise Conflict(
            f"Another request on key {spec.key_name(params)} is still open; wait for it or "
            "cancel it first."
        ) from exc
    return change
