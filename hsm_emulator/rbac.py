"""Managed HSM local RBAC: built-in roles, scopes, and the allow/deny decision.

A principal may perform a data action on a scope when one of its assignments at that scope or
above (``/`` ⊇ ``/keys`` ⊇ ``/keys/{name}``) references a role whose permission lists the action
in ``dataActions`` and not in ``notDataActions``. Actions are compared case-insensitively and
``*`` is a wildcard, as in Azure role definitions.
"""

from __future__ import annotations

import re
import uuid
from functools import lru_cache
from typing import Any

from hsm_emulator.codec import full_match
from hsm_emulator.errors import bad_parameter
from hsm_emulator.store.models import RoleAssignment

ACTION_PREFIX = "Microsoft.KeyVault/managedHsm/"
DEFINITION_ID_PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
ADMINISTRATOR = "a290e904-7015-4bba-90c8-60543313cdb4"
_NAME_PATTERN = re.compile(r"[0-9a-zA-Z-]{1,127}")  # matched in full

_ROLE_ADMIN = [
    "roleAssignments/delete/action",
    "roleAssignments/read/action",
    "roleAssignments/write/action",
    "roleDefinitions/read/action",
    "roleDefinitions/write/action",
    "roleDefinitions/delete/action",
]
_BUILTIN_ACTIONS: dict[str, tuple[str, list[str]]] = {
    ADMINISTRATOR: (
        "Managed HSM Administrator",
        [
            *_ROLE_ADMIN,
            "securitydomain/download/action",
            "securitydomain/download/read",
            "securitydomain/upload/action",
            "securitydomain/upload/read",
            "securitydomain/transferkey/read",
            "backup/start/action",
            "restore/start/action",
            "backup/status/action",
            "restore/status/action",
            "settings/read/action",
            "settings/write/action",
        ],
    ),
    "515eb02d-2335-4d2d-92f2-b1cbdf9c3778": (
        "Managed HSM Crypto Officer",
        [
            *_ROLE_ADMIN,
            "keys/deletedKeys/read/action",
            "keys/deletedKeys/delete",
            "keys/deletedKeys/recover/action",
            "keys/export/action",
        ],
    ),
    "21dbd100-6940-42c2-9190-5d6cb909625b": (
        "Managed HSM Crypto User",
        [
            "roleDefinitions/read/action",
            "roleAssignments/read/action",
            "keys/read/action",
            "keys/write/action",
            "keys/delete",
            "keys/create",
            "keys/rotate/action",
            "keys/import/action",
            "keys/release/action",
            "keys/backup/action",
            "keys/restore/action",
            "keys/encrypt/action",
            "keys/decrypt/action",
            "keys/wrap/action",
            "keys/unwrap/action",
            "keys/sign/action",
            "keys/verify/action",
            "keys/derive/action",
            "rng/action",
        ],
    ),
    "4bd23610-cdcf-4971-bdee-bdc562cc28e4": ("Managed HSM Policy Administrator", _ROLE_ADMIN),
    "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3": (
        "Managed HSM Crypto Auditor",
        [
            "roleAssignments/read/action",
            "roleDefinitions/read/action",
            "keys/read/action",
            "keys/deletedKeys/read/action",
        ],
    ),
    "33413926-3206-4cdd-b39a-83574fe37a17": (
        "Managed HSM Crypto Service Encryption User",
        ["keys/read/action", "keys/wrap/action", "keys/unwrap/action"],
    ),
    "21dbd100-6940-42c2-9190-5d6cb909625c": (
        "Managed HSM Crypto Service Release User",
        ["keys/release/action"],
    ),
    "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8": (
        "Managed HSM Backup User",
        ["backup/start/action", "backup/status/action", "keys/backup/action"],
    ),
    "6efe6056-5259-49d2-8b3d-d3d73544b20b": (
        "Managed HSM Restore User",
        ["restore/start/action", "restore/status/action", "keys/restore/action"],
    ),
}


def definition_id(name: str) -> str:
    """The wire id of a role definition (no leading slash, as the service returns it)."""
    return DEFINITION_ID_PREFIX + name


def role_definition(
    name: str,
    *,
    role_name: str,
    description: str,
    role_type: str,
    permissions: list[dict[str, list[str]]],
    assignable_scopes: list[str],
) -> dict[str, Any]:
    """A RoleDefinition document in the service's wire shape."""
    return {
        "id": definition_id(name),
        "name": name,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": role_name,
            "description": description,
            "type": role_type,
            "permissions": permissions,
            "assignableScopes": assignable_scopes,
        },
    }


BUILTIN_DEFINITIONS: dict[str, dict[str, Any]] = {
    name: role_definition(
        name,
        role_name=role_name,
        description="",
        role_type="AKVBuiltInRole",
        permissions=[
            {
                "actions": [],
                "notActions": [],
                "dataActions": [ACTION_PREFIX + action for action in actions],
                "notDataActions": [],
            }
        ],
        assignable_scopes=["/"],
    )
    for name, (role_name, actions) in _BUILTIN_ACTIONS.items()
}


def definition_name_from_id(role_definition_id: str) -> str:
    """The GUID at the end of a role definition id (with or without leading slash)."""
    return role_definition_id.rstrip("/").rsplit("/", 1)[-1]


def normalize_scope(scope: str) -> str:
    """Canonical scope: ``/``, ``/keys`` or ``/keys/{name}``; anything else is 400."""
    cleaned = "/" + "/".join(part for part in scope.split("/") if part)
    parts = cleaned.split("/")[1:]
    if cleaned == "/" or cleaned.lower() == "/keys":
        return cleaned.lower()
    if len(parts) == 2 and parts[0].lower() == "keys" and full_match(_NAME_PATTERN, parts[1]):
        return f"/keys/{parts[1]}"
    raise bad_parameter(f"Invalid scope '{scope}'; use '/', '/keys' or '/keys/{{key-name}}'.")


def covering_scopes(scope: str) -> tuple[str, ...]:
    """The scopes whose assignments apply to ``scope`` (itself and every parent)."""
    if scope == "/":
        return ("/",)
    if scope == "/keys":
        return ("/", "/keys")
    return ("/", "/keys", scope)


def assignment_document(assignment: RoleAssignment) -> dict[str, Any]:
    """A RoleAssignment in the service's wire shape."""
    prefix = "" if assignment.scope == "/" else assignment.scope
    return {
        "id": f"{prefix}/providers/Microsoft.Authorization/roleAssignments/{assignment.name}",
        "name": assignment.name,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {
            "scope": assignment.scope,
            "roleDefinitionId": assignment.role_definition_id,
            "principalId": assignment.principal_id,
        },
    }


def initial_admin_assignment(object_id: str) -> RoleAssignment:
    """The Administrator assignment at ``/`` for an initial admin (stable name per principal)."""
    name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"hsm-emulator/initial-admin/{object_id}"))
    return RoleAssignment(name, "/", definition_id(ADMINISTRATOR), object_id)


@lru_cache(maxsize=1024)
def _pattern(action: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in action.split("*")), re.IGNORECASE)


def _matches(patterns: list[str], action: str) -> bool:
    return any(_pattern(pattern).fullmatch(action) for pattern in patterns)


def permits(definition: dict[str, Any], action: str) -> bool:
    """True when one permission of ``definition`` grants ``action`` (full action name)."""
    for permission in definition["properties"].get("permissions") or []:
        allowed = permission.get("dataActions") or []
        denied = permission.get("notDataActions") or []
        if _matches(allowed, action) and not _matches(denied, action):
            return True
    return False
