"""The operations of PRODUCT.md §5, one declaration each: the shape of the params, the rules
needing the database, the plan of HSM calls, the outcome."""

from __future__ import annotations

from approvals.models import Operation, State
from approvals.operations.backup import HsmFullBackup
from approvals.operations.base import OperationSpec, Outcome
from approvals.operations.custody import (
    CustodyAddHolder,
    CustodyRemoveHolder,
    CustodyReplaceCertificate,
    CustodySetQuorum,
    SecurityDomainDownload,
)
from approvals.operations.diff import Change, changed_since
from approvals.operations.key_adopt import KeyAdopt
from approvals.operations.key_create import KeyCreate
from approvals.operations.key_import import KeyImport
from approvals.operations.key_lifecycle import KeyDelete, KeyPurge, KeyRecover
from approvals.operations.key_schedule import (
    KeyDisableVersion,
    KeyRemoveRotationSchedule,
    KeySetRotationSchedule,
)
from approvals.operations.key_simple import KeyBackup, KeyRotate, KeySetRotationPolicy, KeyUpdate
from approvals.operations.plan import ExecutionContext, HsmCall
from approvals.operations.roles import SELF_SERVICE_ROLES, RoleAssign, RoleRevoke

SPECS: dict[str, OperationSpec] = {
    spec.operation: spec
    for spec in (
        KeyCreate(),
        KeyImport(),
        KeyRotate(),
        KeySetRotationPolicy(),
        KeySetRotationSchedule(),
        KeyRemoveRotationSchedule(),
        KeyDisableVersion(),
        KeyUpdate(),
        KeyDelete(),
        KeyRecover(),
        KeyPurge(),
        KeyBackup(),
        KeyAdopt(),
        RoleAssign(),
        RoleRevoke(),
        CustodyAddHolder(),
        CustodyRemoveHolder(),
        CustodyReplaceCertificate(),
        CustodySetQuorum(),
        SecurityDomainDownload(),
        HsmFullBackup(),
    )
}
if set(SPECS) != set(Operation.values):
    raise RuntimeError("every operation needs a spec")


def spec_for(operation: str) -> OperationSpec | None:
    return SPECS.get(operation)


def changes_of(change) -> list[Change]:
    """A stored request's current → requested rows, from the values captured at submission."""
    spec = SPECS[change.operation]
    return spec.changes(change.current_values, change.params, team=change.team)


def changed_since_submission(change) -> list[str]:
    """The fields whose inventory value no longer is the one captured at submission, while
    the request has yet to run (once it ran, the key changed on purpose)."""
    if change.state not in (State.PENDING, State.APPROVED):
        return []
    return changed_since(change.current_values, SPECS[change.operation].current(change.params))


__all__ = [
    "SELF_SERVICE_ROLES",
    "SPECS",
    "Change",
    "ExecutionContext",
    "HsmCall",
    "OperationSpec",
    "Outcome",
    "changed_since_submission",
    "changes_of",
    "spec_for",
]
