"""The route table: method + path pattern → handler, required data action, RBAC scope.

Paths are matched after ``//`` is collapsed, so an empty version segment simply disappears and
the optional ``version`` group is empty ("latest"). Order matters: literal segments
(``versions``, ``rotationpolicy``, ``rotate``, …) come before the generic ``{version}`` routes.
"""

from __future__ import annotations

from hsm_emulator.routes import backup, crypto, keys, rbac, securitydomain
from hsm_emulator.wire import Route, route

_KEY = r"/keys/(?P<name>[^/]+)"
_VERSION = r"(?:/(?P<version>[^/]+))?"
_RBAC = r"(?P<scope>(?:/keys(?:/[^/]+)?)?)/providers/Microsoft\.Authorization"
_OPS = "encrypt|decrypt|sign|verify|wrapkey|unwrapkey"


def _key_scope(params: dict[str, str]) -> str:
    return f"/keys/{params['name']}"


def _keys_scope(params: dict[str, str]) -> str:
    return "/keys"


def _root_scope(params: dict[str, str]) -> str:
    return "/"


def _crypto_action(operation: str) -> str:
    return crypto.OPERATIONS[operation.lower()][1]


ROUTES: tuple[Route, ...] = (
    route("GET", "/keys", keys.list_keys, "keys/read/action", _keys_scope),
    route("POST", "/keys/restore", keys.restore_key, "keys/restore/action", _keys_scope),
    route("POST", f"{_KEY}/create", keys.create_key, "keys/create", _key_scope),
    route("PUT", f"{_KEY}/restore", backup.selective_restore, "restore/start/action", _root_scope),
    route("PUT", f"{_KEY}/?", keys.import_key, "keys/import/action", _key_scope),
    route("GET", f"{_KEY}/versions", keys.list_versions, "keys/read/action", _key_scope),
    route(
        "GET", f"{_KEY}/rotationpolicy", keys.get_rotation_policy, "keys/read/action", _key_scope
    ),
    route(
        "PUT", f"{_KEY}/rotationpolicy", keys.put_rotation_policy, "keys/write/action", _key_scope
    ),
    route("POST", f"{_KEY}/rotate", keys.rotate_key, "keys/rotate/action", _key_scope),
    route("POST", f"{_KEY}/backup", keys.backup_key, "keys/backup/action", _key_scope),
    route(
        "GET",
        f"{_KEY}{_VERSION}/attestation",
        crypto.get_attestation,
        "keys/read/action",
        _key_scope,
    ),
    route(
        "POST", f"{_KEY}{_VERSION}/release", crypto.release_key, "keys/release/action", _key_scope
    ),
    route("POST", f"{_KEY}{_VERSION}/(?P<op>{_OPS})", crypto.key_operation, None, _key_scope),
    route("GET", f"{_KEY}{_VERSION}/?", keys.get_key, "keys/read/action", _key_scope),
    route("PATCH", f"{_KEY}{_VERSION}/?", keys.update_key, "keys/write/action", _key_scope),
    route("DELETE", f"{_KEY}/?", keys.delete_key, "keys/delete", _key_scope),
    route(
        "GET", "/deletedkeys", keys.list_deleted_keys, "keys/deletedKeys/read/action", _keys_scope
    ),
    route(
        "GET",
        r"/deletedkeys/(?P<name>[^/]+)/?",
        keys.get_deleted_key,
        "keys/deletedKeys/read/action",
        _key_scope,
    ),
    route(
        "POST",
        r"/deletedkeys/(?P<name>[^/]+)/recover",
        keys.recover_key,
        "keys/deletedKeys/recover/action",
        _key_scope,
    ),
    route(
        "DELETE",
        r"/deletedkeys/(?P<name>[^/]+)/?",
        keys.purge_key,
        "keys/deletedKeys/delete",
        _key_scope,
    ),
    route("POST", "/rng", crypto.random_bytes, "rng/action", _root_scope),
    route(
        "GET",
        f"{_RBAC}/roleDefinitions",
        rbac.list_definitions,
        "roleDefinitions/read/action",
        rbac.rbac_scope,
    ),
    route(
        "GET",
        f"{_RBAC}/roleDefinitions/(?P<role>[^/]+)",
        rbac.get_definition,
        "roleDefinitions/read/action",
        rbac.rbac_scope,
    ),
    route(
        "PUT",
        f"{_RBAC}/roleDefinitions/(?P<role>[^/]+)",
        rbac.put_definition,
        "roleDefinitions/write/action",
        rbac.rbac_scope,
    ),
    route(
        "DELETE",
        f"{_RBAC}/roleDefinitions/(?P<role>[^/]+)",
        rbac.delete_definition,
        "roleDefinitions/delete/action",
        rbac.rbac_scope,
    ),
    route(
        "GET",
        f"{_RBAC}/roleAssignments",
        rbac.list_assignments,
        "roleAssignments/read/action",
        rbac.rbac_scope,
    ),
    route(
        "GET",
        f"{_RBAC}/roleAssignments/(?P<assignment>[^/]+)",
        rbac.get_assignment,
        "roleAssignments/read/action",
        rbac.rbac_scope,
    ),
    route(
        "PUT",
        f"{_RBAC}/roleAssignments/(?P<assignment>[^/]+)",
        rbac.put_assignment,
        "roleAssignments/write/action",
        rbac.rbac_scope,
    ),
    route(
        "DELETE",
        f"{_RBAC}/roleAssignments/(?P<assignment>[^/]+)",
        rbac.delete_assignment,
        "roleAssignments/delete/action",
        rbac.rbac_scope,
    ),
    route("POST", "/backup", backup.start_backup, "backup/start/action", _root_scope),
    route("POST", "/prebackup", backup.pre_backup, "backup/start/action", _root_scope),
    route(
        "GET",
        r"/backup/(?P<job>[^/]+)/pending",
        backup.backup_status,
        "backup/status/action",
        _root_scope,
        needs_api_version=False,
    ),
    route("PUT", "/restore", backup.start_restore, "restore/start/action", _root_scope),
    route("PUT", "/prerestore", backup.pre_restore, "restore/start/action", _root_scope),
    route(
        "GET",
        r"/restore/(?P<job>[^/]+)/pending",
        backup.restore_status,
        "restore/status/action",
        _root_scope,
        needs_api_version=False,
    ),
    route(
        "POST",
        "/securitydomain/download",
        securitydomain.download,
        "securitydomain/download/action",
        _root_scope,
    ),
    route(
        "GET",
        "/securitydomain/download/pending",
        securitydomain.download_status,
        "securitydomain/download/read",
        _root_scope,
        needs_api_version=False,
    ),
    route(
        "GET",
        "/securitydomain/upload",
        securitydomain.transfer_key,
        "securitydomain/transferkey/read",
        _root_scope,
    ),
    route(
        "POST",
        "/securitydomain/upload",
        securitydomain.upload,
        "securitydomain/upload/action",
        _root_scope,
    ),
    route(
        "GET",
        "/securitydomain/upload/pending",
        securitydomain.upload_status,
        "securitydomain/upload/read",
        _root_scope,
        needs_api_version=False,
    ),
    route("GET", "/settings", backup.list_settings, "settings/read/action", _root_scope),
    route(
        "GET",
        r"/settings/(?P<setting>[^/]+)",
        backup.get_setting,
        "settings/read/action",
        _root_scope,
    ),
    route(
        "PATCH",
        r"/settings/(?P<setting>[^/]+)",
        backup.update_setting,
        "settings/write/action",
        _root_scope,
    ),
)


def required_action(matched: Route, params: dict[str, str]) -> str:
    """The data action for a matched route (crypto routes depend on the operation)."""
    return matched.action or _crypto_action(params["op"])


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | bool | None:
    """(route, params) on a match; False when the path exists with another method; None if not."""
    path_known = False
    for candidate in ROUTES:
        found = candidate.pattern.fullmatch(path)
        if found is None:
            continue
        if candidate.method == method:
            return candidate, {k: v for k, v in found.groupdict().items() if v is not None}
        path_known = True
    return False if path_known else None
