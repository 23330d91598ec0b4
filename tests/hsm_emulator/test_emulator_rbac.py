"""Local RBAC through KeyVaultAccessControlClient, and its enforcement on every data-plane call."""

from __future__ import annotations

import re
import uuid

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.administration import (
    KeyVaultDataAction,
    KeyVaultPermission,
    KeyVaultRoleScope,
)
from emulator_helpers import ADMIN, digest, error_code, inner_code, public_key, verify_locally

from hsm_emulator.client.testing import make_clients
from hsm_emulator.rbac import initial_admin_assignment

PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
BUILT_IN = {
    "a290e904-7015-4bba-90c8-60543313cdb4": "Managed HSM Administrator",
    "515eb02d-2335-4d2d-92f2-b1cbdf9c3778": "Managed HSM Crypto Officer",
    "21dbd100-6940-42c2-9190-5d6cb909625b": "Managed HSM Crypto User",
    "4bd23610-cdcf-4971-bdee-bdc562cc28e4": "Managed HSM Policy Administrator",
    "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3": "Managed HSM Crypto Auditor",
    "33413926-3206-4cdd-b39a-83574fe37a17": "Managed HSM Crypto Service Encryption User",
    "21dbd100-6940-42c2-9190-5d6cb909625c": "Managed HSM Crypto Service Release User",
    "7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8": "Managed HSM Backup User",
    "6efe6056-5259-49d2-8b3d-d3d73544b20b": "Managed HSM Restore User",
}
CRYPTO_USER = PREFIX + "21dbd100-6940-42c2-9190-5d6cb909625b"
AUDITOR = PREFIX + "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"
ACCESS_DENIED = re.compile(
    r"^Not authorized to access Microsoft\.KeyVault/managedHsm/(?P<action>\S+) on (?P<scope>\S+) "
    r"\(Activity ID: [0-9a-f-]{36}\)$"
)


def _denial(error: HttpResponseError) -> tuple[int, str, str, str]:
    body = error.response.json()["error"]
    found = ACCESS_DENIED.match(body["message"])
    assert found is not None, body["message"]
    return error.status_code, body["code"], found["action"], found["scope"]


def test_built_in_role_definitions_are_listed_with_their_guids(admin):
    definitions = {
        d.name: d for d in admin.access_control.list_role_definitions(KeyVaultRoleScope.GLOBAL)
    }

    assert {name: definitions[name].role_name for name in BUILT_IN} == BUILT_IN
    administrator = definitions["a290e904-7015-4bba-90c8-60543313cdb4"]
    assert administrator.role_type == "AKVBuiltInRole"
    assert administrator.assignable_scopes == ["/"]
    assert administrator.id == PREFIX + "a290e904-7015-4bba-90c8-60543313cdb4"
    assert all(
        not action.startswith("Microsoft.KeyVault/managedHsm/keys/")
        for action in administrator.permissions[0].data_actions
    )


def test_get_built_in_role_definition(admin):
    definition = admin.access_control.get_role_definition(
        "/", "21dbd100-6940-42c2-9190-5d6cb909625b"
    )

    assert definition.role_name == "Managed HSM Crypto User"
    assert KeyVaultDataAction.SIGN_HSM_KEY in definition.permissions[0].data_actions


def test_get_unknown_role_definition_is_not_found(admin):
    with pytest.raises(ResourceNotFoundError) as raised:
        admin.access_control.get_role_definition("/", str(uuid.uuid4()))

    assert error_code(raised.value) == "RoleDefinitionNotFound"


def test_custom_role_definition_lifecycle(admin):
    name = str(uuid.uuid4())
    permissions = [
        KeyVaultPermission(
            data_actions=[KeyVaultDataAction.READ_HSM_KEY],
            not_data_actions=[KeyVaultDataAction.SIGN_HSM_KEY],
        )
    ]

    created = admin.access_control.set_role_definition(
        "/", name=name, role_name=f"reader-{name[:8]}", description="d", permissions=permissions
    )
    fetched = admin.access_control.get_role_definition("/", name)
    listed = [d.name for d in admin.access_control.list_role_definitions("/")]
    admin.access_control.delete_role_definition("/", name)

    assert (created.role_type, created.assignable_scopes) == ("CustomRole", ["/"])
    assert fetched.permissions[0].not_data_actions == [KeyVaultDataAction.SIGN_HSM_KEY]
    assert fetched.description == "d"
    assert name in listed
    with pytest.raises(ResourceNotFoundError):
        admin.access_control.get_role_definition("/", name)


def test_custom_role_definition_can_be_updated_in_place(admin):
    name = str(uuid.uuid4())
    admin.access_control.set_role_definition("/", name=name, role_name=f"v1-{name[:8]}")

    updated = admin.access_control.set_role_definition(
        "/",
        name=name,
        role_name=f"v2-{name[:8]}",
        permissions=[KeyVaultPermission(data_actions=[KeyVaultDataAction.RANDOM_NUMBERS_GENERATE])],
    )

    assert updated.role_name == f"v2-{name[:8]}"
    assert admin.access_control.get_role_definition("/", name).role_name == f"v2-{name[:8]}"


@pytest.mark.parametrize(
    ("_case", "change"),
    [
        (
            "modify",
            lambda ac: ac.set_role_definition(
                "/", name="a290e904-7015-4bba-90c8-60543313cdb4", role_name="mine"
            ),
        ),
        (
            "delete",
            lambda ac: ac.delete_role_definition("/", "a290e904-7015-4bba-90c8-60543313cdb4"),
        ),
    ],
)
def test_built_in_role_definitions_cannot_be_changed(_case, change, admin):
    with pytest.raises(HttpResponseError) as raised:
        change(admin.access_control)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")


def test_role_assignment_lifecycle_at_a_key_scope(admin, principal, key_name):
    scope = f"/keys/{key_name}"

    created = admin.access_control.create_role_assignment(scope, AUDITOR, principal)
    fetched = admin.access_control.get_role_assignment(scope, created.name)
    admin.access_control.delete_role_assignment(scope, created.name)

    assert created.role_assignment_id == (
        f"{scope}/providers/Microsoft.Authorization/roleAssignments/{created.name}"
    )
    assert (fetched.properties.scope, fetched.properties.principal_id) == (scope, principal)
    assert fetched.properties.role_definition_id == AUDITOR
    with pytest.raises(ResourceNotFoundError) as raised:
        admin.access_control.get_role_assignment(scope, created.name)
    assert error_code(raised.value) == "RoleAssignmentNotFound"


def test_unfiltered_list_covers_the_scope_what_is_above_and_what_is_below(
    admin, principal, key_name
):
    created = admin.access_control.create_role_assignment(f"/keys/{key_name}", AUDITOR, principal)

    def names(scope):
        return {a.name for a in admin.access_control.list_role_assignments(scope)}

    at_key, at_root = names(f"/keys/{key_name}"), names("/")
    at_other_key = names(f"/keys/{key_name}-other")

    assert created.name in at_key
    assert created.name in at_root
    assert created.name not in at_other_key
    assert initial_admin_assignment(ADMIN).name in at_key & at_other_key


def test_role_assignment_at_another_scope_is_not_found_at_this_one(admin, principal, key_name):
    created = admin.access_control.create_role_assignment(f"/keys/{key_name}", AUDITOR, principal)

    with pytest.raises(ResourceNotFoundError):
        admin.access_control.get_role_assignment("/keys", created.name)


def test_list_role_assignments_filters_by_principal_and_at_scope(admin, principal, key_name):
    at_keys = admin.access_control.create_role_assignment("/keys", AUDITOR, principal)
    at_key = admin.access_control.create_role_assignment(
        f"/keys/{key_name}", CRYPTO_USER, principal
    )

    by_principal = admin.access_control.list_role_assignments(
        "/", filter=f"principalId eq '{principal}'"
    )
    at_or_above = admin.access_control.list_role_assignments(
        f"/keys/{key_name}", filter="atScope()"
    )

    assert sorted(a.name for a in by_principal) == sorted([at_keys.name, at_key.name])
    assert {at_keys.name, at_key.name} <= {a.name for a in at_or_above}


def test_assignment_with_unknown_role_definition_is_refused(admin, principal):
    with pytest.raises(HttpResponseError) as raised:
        admin.access_control.create_role_assignment("/", PREFIX + str(uuid.uuid4()), principal)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")
    assert inner_code(raised.value) == "RoleDefinitionNotFound"


def test_duplicate_assignment_under_a_new_name_conflicts(admin, principal):
    admin.access_control.create_role_assignment("/keys", AUDITOR, principal)

    with pytest.raises(ResourceExistsError) as raised:
        admin.access_control.create_role_assignment("/keys", AUDITOR, principal)

    assert inner_code(raised.value) == "RoleAssignmentExists"


def test_assignment_at_an_invalid_scope_is_bad_parameter(admin, principal):
    with pytest.raises(HttpResponseError) as raised:
        admin.access_control.create_role_assignment("/secrets", AUDITOR, principal)

    assert raised.value.status_code in (400, 404)


def test_crypto_user_at_one_key_uses_that_key_but_not_another(
    hsm, admin, user, principal, key_name
):
    mine = user.keys.create_ec_key(key_name)
    other = user.keys.create_ec_key(f"{key_name}-other")
    admin.access_control.create_role_assignment(f"/keys/{key_name}", CRYPTO_USER, principal)
    scoped = make_clients(hsm.url, hsm.ca_path, principal)
    value = digest("ES256", b"scoped")

    signature = scoped.crypto(mine.id).sign("ES256", value).signature
    with pytest.raises(HttpResponseError) as raised:
        scoped.crypto(other.id).sign("ES256", value)

    verify_locally(public_key(mine.key), "ES256", value, signature)
    assert _denial(raised.value) == (403, "AccessDenied", "keys/sign/action", f"/keys/{other.name}")


def test_assignment_at_keys_covers_every_key(hsm, admin, user, principal, key_name):
    key = user.keys.create_ec_key(key_name)
    admin.access_control.create_role_assignment("/keys", AUDITOR, principal)

    fetched = make_clients(hsm.url, hsm.ca_path, principal).keys.get_key(key_name)

    assert fetched.id == key.id


def test_principal_without_roles_is_denied_listing_keys(hsm, principal):
    with pytest.raises(HttpResponseError) as raised:
        list(make_clients(hsm.url, hsm.ca_path, principal).keys.list_properties_of_keys())

    assert _denial(raised.value) == (403, "AccessDenied", "keys/read/action", "/keys")


def test_administrator_assigns_roles_but_cannot_create_keys(admin, principal, key_name):
    assignment = admin.access_control.create_role_assignment("/", AUDITOR, principal)

    with pytest.raises(HttpResponseError) as raised:
        admin.keys.create_ec_key(key_name)

    assert assignment.properties.principal_id == principal
    assert _denial(raised.value) == (403, "AccessDenied", "keys/create", f"/keys/{key_name}")


def test_crypto_user_cannot_manage_role_assignments(user, principal):
    with pytest.raises(HttpResponseError) as raised:
        user.access_control.create_role_assignment("/", AUDITOR, principal)

    assert _denial(raised.value)[:3] == (403, "AccessDenied", "roleAssignments/write/action")


def test_crypto_user_cannot_purge_and_officer_cannot_create(user, officer, key_name):
    user.keys.create_ec_key(key_name)
    user.keys.begin_delete_key(key_name, _polling_interval=0).wait()

    with pytest.raises(HttpResponseError) as purge:
        user.keys.purge_deleted_key(key_name)
    with pytest.raises(HttpResponseError) as create:
        officer.keys.create_ec_key(f"{key_name}-2")

    assert _denial(purge.value)[2] == "keys/deletedKeys/delete"
    assert _denial(create.value)[2] == "keys/create"


def test_not_data_actions_carve_out_of_a_wildcard_role(hsm, admin, user, principal, key_name):
    role = str(uuid.uuid4())
    admin.access_control.set_role_definition(
        "/",
        name=role,
        role_name=f"all-but-sign-{role[:8]}",
        permissions=[
            KeyVaultPermission(
                data_actions=["Microsoft.KeyVault/managedHsm/keys/*"],
                not_data_actions=[KeyVaultDataAction.SIGN_HSM_KEY],
            )
        ],
    )
    admin.access_control.create_role_assignment("/", PREFIX + role, principal)
    clients = make_clients(hsm.url, hsm.ca_path, principal)

    key = clients.keys.create_ec_key(key_name)
    with pytest.raises(HttpResponseError) as raised:
        clients.crypto(key.id).sign("ES256", digest("ES256", b"no"))

    assert clients.keys.get_key(key_name).id == key.id
    assert _denial(raised.value)[2] == "keys/sign/action"


def test_role_definition_in_use_cannot_be_deleted(admin, principal):
    role = str(uuid.uuid4())
    admin.access_control.set_role_definition("/", name=role, role_name=f"used-{role[:8]}")
    admin.access_control.create_role_assignment("/", PREFIX + role, principal)

    with pytest.raises(HttpResponseError) as raised:
        admin.access_control.delete_role_definition("/", role)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")
