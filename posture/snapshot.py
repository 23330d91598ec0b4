"""What the posture rules judge: the HSM as Keywarden reads it at one moment.

Role definitions and assignments are read fresh (as Keywarden's identity, at the scope its role
is assigned: the listing covers `/`, `/keys` and every key); which keys are exportable comes
from the inventory the sync keeps, and each of them is read fresh for its release policy. Purge
protection and retention are properties of the Azure resource (ARM), not of the data plane's
settings API (which holds only `AllowKeyManagementOperationsThroughARM`): the HSM reports them
on every key as `recoveryLevel` and `recoverableDays`, so one key is read for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from accounts.models import User
from custody.models import FullBackup
from keys.gateway import HsmGateway, HsmNotFound, KeyInfo, RoleAssignmentInfo, RoleDefinitionInfo
from keys.models import KeyState, ManagedKey, RoleAssignmentMirror

PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal")


@dataclass(frozen=True)
class HsmSnapshot:
    now: datetime
    definitions: dict[str, RoleDefinitionInfo]  # by the GUID at the end of the id
    assignments: tuple[RoleAssignmentInfo, ...]
    principal_types: dict[str, str]  # lower-case object id → User, Group or ServicePrincipal
    exportable_keys: tuple[KeyInfo, ...]
    recovery_key: KeyInfo | None  # any key: what it reports of purge protection and retention
    last_full_backup: datetime | None
    keywarden_principal: str

    def definition_of(self, assignment: RoleAssignmentInfo) -> RoleDefinitionInfo | None:
        return self.definitions.get(assignment.role_definition_name)

    def role_name_of(self, assignment: RoleAssignmentInfo) -> str:
        definition = self.definition_of(assignment)
        return definition.role_name if definition else assignment.role_definition_name

    def principal_type(self, principal_id: str) -> str:
        """'' when Keywarden does not know (no Microsoft Graph lookup)."""
        return self.principal_types.get(principal_id.lower(), "")


def read_snapshot(*, gateway: HsmGateway, now: datetime) -> HsmSnapshot:
    """Read what the rules need (role reads, one get per exportable key, one for recovery)."""
    scope = settings.HSM_ROLE_SCOPE
    definitions = {d.name: d for d in gateway.list_role_definitions(scope)}
    assignments = tuple(gateway.list_role_assignments(scope))
    names = ManagedKey.objects.filter(state=KeyState.ACTIVE, exportable=True).values_list(
        "name", flat=True
    )
    exportable = tuple(key for key in (_read_key(gateway, name) for name in names) if key)
    return HsmSnapshot(
        now=now,
        definitions=definitions,
        assignments=assignments,
        principal_types=principal_directory(),
        exportable_keys=exportable,
        recovery_key=exportable[0] if exportable else _any_key(gateway),
        last_full_backup=FullBackup.objects.values_list("finished_at", flat=True).first(),
        keywarden_principal=settings.HSM_PRINCIPAL_ID,
    )


def principal_directory() -> dict[str, str]:
    """Principal types Keywarden knows without Microsoft Graph, the first source winning:
    POSTURE_PRINCIPAL_TYPES; Keywarden's own users (service accounts are applications); the
    types requesters gave on role.assign requests (the mirrored assignments)."""
    known: dict[str, str] = {}
    mirrored = RoleAssignmentMirror.objects.exclude(principal_type="").values_list(
        "principal_id", "principal_type"
    )
    known.update({oid.lower(): kind for oid, kind in mirrored})
    users = User.objects.exclude(entra_object_id=None).values_list(
        "entra_object_id", "is_service_account"
    )
    known.update({str(oid).lower(): "ServicePrincipal" if app else "User" for oid, app in users})
    configured = settings.POSTURE_PRINCIPAL_TYPES.items()
    known.update({oid.lower(): kind for oid, kind in configured if kind in PRINCIPAL_TYPES})
    return known


def _read_key(gateway: HsmGateway, name: str) -> KeyInfo | None:
    try:
        return gateway.get_key(name)
    except HsmNotFound:
        return None  # deleted since the sync: the next sync says so


def _any_key(gateway: HsmGateway) -> KeyInfo | None:
    listing = next(iter(gateway.list_keys()), None)
    return _read_key(gateway, listing.name) if listing else None
