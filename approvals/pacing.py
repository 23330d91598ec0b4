"""Admission of an execution to the HSM's service limits, before its claim (keys.gateway.pacing).

A storm of approved requests would otherwise queue in front of other work: each task would be
claimed, audited and rescheduled in turn while a key.create waits behind them in the broker. An
execution first takes an admission place for the scarce classes its plan calls; without one
soon, the task comes back when the place is due, having written nothing.
"""

from __future__ import annotations

from uuid import UUID

from approvals.models import EXECUTABLE_STATES, ChangeRequest
from approvals.operations import spec_for
from approvals.operations.bulk import is_bulk, targets_of
from keys.gateway import get_gateway


def admit_execution(request_id: UUID) -> float:
    """Wait (at most the pacing's short bound) for the request's admission; returns the seconds
    waited. Raises HsmPaced with when to come back. Nothing to pace (no pacing configured, a
    request no longer executable, an operation without a plan) passes at once."""
    gateway = get_gateway()
    if gateway.pacer is None:
        return 0.0
    change = (
        ChangeRequest.objects.filter(pk=request_id, state__in=EXECUTABLE_STATES)
        .only("operation", "params")
        .first()
    )
    spec = spec_for(change.operation) if change is not None else None
    if spec is None:
        return 0.0
    params = change.params
    if is_bulk(params):  # key by key, each call paced on its own: admit it as its first key
        params = spec.single(params, targets_of(params)[0])
    methods = [call.method for call in spec.plan(params, request_id=change.pk)]
    return gateway.pacer.admit(gateway.url, methods)
