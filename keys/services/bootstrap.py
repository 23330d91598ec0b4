"""HSM set-up an HSM administrator does once: Keywarden's custom role, assigned at /keys; the
audit checkpoint key and its signer's role, assigned at /keys/<that key> only."""

from __future__ import annotations

import uuid

from django.conf import settings

from keys.gateway import (
    HsmConflict,
    HsmGateway,
    KeyInfo,
    RoleAssignmentInfo,
    RoleDefinitionInfo,
)
from keys.hsm_role import (
    AUDIT_SIGNER_DATA_ACTIONS,
    AUDIT_SIGNER_ROLE_DESCRIPTION,
    AUDIT_SIGNER_ROLE_ID,
    AUDIT_SIGNER_ROLE_NAME,
    KEYWARDEN_ROLE_DESCRIPTION,
    KEYWARDEN_ROLE_ID,
    KEYWARDEN_ROLE_NAME,
    REQUIRED_DATA_ACTIONS,
)


def bootstrap_keywarden_role(*, admin_gateway: HsmGateway) -> RoleAssignmentInfo | None:
    """Create (or refresh) the custom role and assign it to HSM_PRINCIPAL_ID. Idempotent:
    the assignment's name derives from principal and role, so a rerun finds it in place."""
    definition = admin_gateway.set_role_definition(
        name=KEYWARDEN_ROLE_ID,
        role_name=KEYWARDEN_ROLE_NAME,
        description=KEYWARDEN_ROLE_DESCRIPTION,
        data_actions=list(REQUIRED_DATA_ACTIONS),
    )
    return _assign_once(
        admin_gateway, definition, settings.HSM_PRINCIPAL_ID, settings.HSM_ROLE_SCOPE
    )


def bootstrap_audit_signer(
    *, admin_gateway: HsmGateway, key_manager_gateway: HsmGateway
) -> tuple[KeyInfo, RoleAssignmentInfo | None]:
    """Create the checkpoint key (EC P-256, sign/verify) as Keywarden — which may create keys but
    never use them — unless it exists; then, as the HSM administrator, the signer's role (sign +
    read) assigned to HSM_AUDIT_PRINCIPAL_ID at /keys/<key>. Idempotent."""
    name = settings.AUDIT_CHECKPOINT_KEY_NAME
    key = key_manager_gateway.find_key(name) or key_manager_gateway.create_key(
        name, kty="EC-HSM", curve="P-256", key_ops=["sign", "verify"]
    )
    definition = admin_gateway.set_role_definition(
        name=AUDIT_SIGNER_ROLE_ID,
        role_name=AUDIT_SIGNER_ROLE_NAME,
        description=AUDIT_SIGNER_ROLE_DESCRIPTION,
        data_actions=list(AUDIT_SIGNER_DATA_ACTIONS),
    )
    assignment = _assign_once(
        admin_gateway, definition, settings.HSM_AUDIT_PRINCIPAL_ID, f"/keys/{name}"
    )
    return key, assignment


def _assign_once(
    admin_gateway: HsmGateway, definition: RoleDefinitionInfo, principal: str, scope: str
) -> RoleAssignmentInfo | None:
    """Assign `definition` to `principal` at `scope` unless it is; None when already in place."""
    existing = [
        a
        for a in admin_gateway.list_role_assignments(scope)
        if a.principal_id == principal
        and a.role_definition_name == definition.name
        and a.scope == scope
    ]
    if existing:
        return None
    name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"keywarden:{principal}:{definition.name}"))
    try:
        return admin_gateway.create_role_assignment(
            scope=scope, role_definition_id=definition.id, principal_id=principal, name=name
        )
    except HsmConflict:
        return None
