"""Local RBAC routes: role definitions (built-in + custom) and role assignments."""

from __future__ import annotations

import re
from typing import Any

from hsm_emulator.codec import full_match
from hsm_emulator.errors import bad_parameter, not_found
from hsm_emulator.rbac import (
    BUILTIN_DEFINITIONS,
    assignment_document,
    covering_scopes,
    definition_id,
    definition_name_from_id,
    normalize_scope,
    role_definition,
)
from hsm_emulator.store import RoleAssignment
from hsm_emulator.wire import Request, Response

_RBAC_NAME = re.compile(r"[0-9a-zA-Z-]{1,64}")  # matched in full
_PRINCIPAL_FILTER = re.compile(r"\s*principalId\s+eq\s+'?([^'\s]+)'?\s*", re.IGNORECASE)


def rbac_scope(params: dict[str, str]) -> str:
    """The RBAC scope in the path (``""`` → ``/``), normalised."""
    return normalize_scope(params.get("scope") or "/")


def _check_rbac_name(name: str) -> str:
    if not full_match(_RBAC_NAME, name):
        raise bad_parameter(f"Invalid role object name '{name}'.")
    return name


def _definition_not_found(name: str) -> Exception:
    return not_found("RoleDefinitionNotFound", f"Role definition {name} was not found.")


def list_definitions(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET …/roleDefinitions: built-ins first, then custom roles (one page)."""
    rbac_scope(params)
    values = [*BUILTIN_DEFINITIONS.values(), *app.store.roles.custom_definitions()]
    return Response(200, {"value": values, "nextLink": None})


def get_definition(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET …/roleDefinitions/{name}."""
    definition = app.role_definition(params["role"])
    if definition is None:
        raise _definition_not_found(params["role"])
    return Response(200, definition)


def _string_list(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_parameter(f"'{field}' must be a list of strings.")
    return list(value)


def _permissions(value: Any) -> list[dict[str, list[str]]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise bad_parameter("'permissions' must be a list of permission objects.")
    parsed = []
    for item in value:
        permission = {
            field: _string_list(item.get(field), field)
            for field in ("actions", "notActions", "dataActions", "notDataActions")
        }
        if permission["actions"] or permission["notActions"]:
            raise bad_parameter(
                "Managed HSM roles support only dataActions and notDataActions, not actions."
            )
        parsed.append(permission)
    return parsed


def put_definition(app: Any, request: Request, params: dict[str, str]) -> Response:
    """PUT …/roleDefinitions/{name}: create or update a custom role (201)."""
    name = _check_rbac_name(params["role"])
    if name in BUILTIN_DEFINITIONS:
        raise bad_parameter(f"Built-in role definition {name} cannot be modified.")
    properties = request.json().get("properties")
    if not isinstance(properties, dict):
        raise bad_parameter("The parameter 'properties' is required.")
    scopes = _string_list(properties.get("assignableScopes"), "assignableScopes") or ["/"]
    document = role_definition(
        name,
        role_name=str(properties.get("roleName") or ""),
        description=str(properties.get("description") or ""),
        role_type="CustomRole",
        permissions=_permissions(properties.get("permissions")),
        assignable_scopes=[normalize_scope(scope) for scope in scopes],
    )
    return Response(201, app.store.roles.put_definition(document))


def delete_definition(app: Any, request: Request, params: dict[str, str]) -> Response:
    """DELETE …/roleDefinitions/{name}: 200 with the deleted definition."""
    name = params["role"]
    if name in BUILTIN_DEFINITIONS:
        raise bad_parameter(f"Built-in role definition {name} cannot be deleted.")
    document = app.store.roles.delete_definition(name)
    if document is None:
        raise _definition_not_found(name)
    return Response(200, document)


def _assignment_not_found(name: str) -> Exception:
    return not_found("RoleAssignmentNotFound", f"Role assignment {name} was not found.")


def list_assignments(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET …/roleAssignments: at, above and below the scope; ``$filter`` atScope() or
    principalId eq '…'."""
    scope = rbac_scope(params)
    query = (request.query.get("$filter") or "").strip()
    principal_match = _PRINCIPAL_FILTER.fullmatch(query)
    if principal_match:
        found = app.store.roles.assignments(principal=principal_match.group(1))
    elif query.lower() == "atscope()":
        found = app.store.roles.assignments(scopes=covering_scopes(scope))
    elif query:
        raise bad_parameter(f"Unsupported $filter: {query}")
    else:
        # Unfiltered, the service lists what is effective at the scope and everything under
        # it: at "/" that is every assignment in the HSM (Get-AzKeyVaultRoleAssignment docs).
        above, below = covering_scopes(scope), scope.rstrip("/") + "/"
        found = [
            a
            for a in app.store.roles.assignments()
            if a.scope in above or a.scope.startswith(below)
        ]
    return Response(200, {"value": [assignment_document(a) for a in found], "nextLink": None})


def get_assignment(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET …/roleAssignments/{name}: 404 unless it exists at this scope."""
    assignment = app.store.roles.assignment(params["assignment"])
    if assignment is None or assignment.scope != rbac_scope(params):
        raise _assignment_not_found(params["assignment"])
    return Response(200, assignment_document(assignment))


def put_assignment(app: Any, request: Request, params: dict[str, str]) -> Response:
    """PUT …/roleAssignments/{name}: 201; the role definition must exist."""
    name = _check_rbac_name(params["assignment"])
    properties = request.json().get("properties")
    if not isinstance(properties, dict):
        raise bad_parameter("The parameter 'properties' is required.")
    role_id, principal = properties.get("roleDefinitionId"), properties.get("principalId")
    if not isinstance(role_id, str) or not role_id:
        raise bad_parameter("The parameter 'properties.roleDefinitionId' is required.")
    if not isinstance(principal, str) or not principal:
        raise bad_parameter("The parameter 'properties.principalId' is required.")
    if app.role_definition(role_id) is None:
        raise bad_parameter(
            f"The role definition {role_id} does not exist.", inner="RoleDefinitionNotFound"
        )
    assignment = RoleAssignment(
        name, rbac_scope(params), definition_id(definition_name_from_id(role_id)), principal
    )
    return Response(201, assignment_document(app.store.roles.put_assignment(assignment)))


def delete_assignment(app: Any, request: Request, params: dict[str, str]) -> Response:
    """DELETE …/roleAssignments/{name}: 200 with the deleted assignment."""
    deleted = app.store.roles.delete_assignment(params["assignment"], rbac_scope(params))
    if deleted is None:
        raise _assignment_not_found(params["assignment"])
    return Response(200, assignment_document(deleted))
