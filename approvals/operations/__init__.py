"""The operations of PRODUCT.md §5, one declaration each: the shape of the params, the rules
needing the database, the plan of HSM calls, the outcome."""

from __future__ import annotations

from approvals.models import Operation
from approvals.operations.base import OperationSpec, Outcome
from approvals.operations.custody import (
    CustodyAddHolder,
    CustodyRemoveHolder,
    CustodyReplaceCertificate,
    CustodySetQuorum,
    SecurityDomainDownload,
)
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
        RoleAssign(),
        RoleRevoke(),
        CustodyAddHolder(),
        CustodyRemoveHolder(),
        CustodyReplaceCertificate(),
        CustodySetQuorum(),
        SecurityDomainDownload(),
    )
}
if set(SPECS) != set(Operation.values):
    raise RuntimeError("every operation needs a spec")


def spec_for(operation: str) -> OperationSpec | None:
    return SPECS.get(operation)


__all__ = [
    "SELF_SERVICE_ROLES",
    "SPECS",
    "ExecutionContext",
    "HsmCall",
    "OperationSpec",
    "Outcome",
    "spec_for",
]
