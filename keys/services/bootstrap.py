"""HSM set-up an HSM administrator does once: Keywarden's custom role, assigned at /keys."""

from __future__ import annotations

import uuid

from django.conf import settings

from keys.gateway import HsmConflict, HsmGateway, RoleAssignmentInfo
from keys.hsm_role import (
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
    principal, scope = settings.HSM_PRINCIPAL_ID, settings.HSM_ROLE_SCOPE
    existing = [
        a
        for a in admin_gateway.list_role_assignments(scope)
        if a.principal_id == principal and a.role_definition_name == KEYWARDEN_ROLE_ID
    ]
    if existing:
        return None
    name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"keywarden:{principal}:{KEYWARDEN_ROLE_ID}"))
    try:
        return admin_gateway.create_role_assignment(
            scope=scope, role_definition_id=definition.id, principal_id=principal, name=name
        )
    except HsmConflict:
        return None
