"""Key names as the service treats them: compared case-insensitively (a create on `K-ABC` when
`k-abc` exists makes a new version of the same key, under its first spelling), and matched in
full (a trailing newline or a NUL is a 400, never a second key)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from emulator_helpers import error_code, inner_code

from hsm_emulator.client.testing import make_clients

AUDITOR = (
    "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
    "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"
)


def test_create_with_other_case_adds_a_version_to_the_same_key(hsm, user, key_name):
    # given
    first = user.keys.create_ec_key(key_name)
    # when
    second = user.keys.create_ec_key(key_name.upper())
    # then
    versions = list(user.keys.list_properties_of_key_versions(key_name))
    listed = [k.name for k in user.keys.list_properties_of_keys() if k.name.lower() == key_name]
    assert second.name == key_name
    assert second.id == f"{hsm.url}/keys/{key_name}/{second.properties.version}"
    assert {v.version for v in versions} == {first.properties.version, second.properties.version}
    assert listed == [key_name]


def test_reads_rotation_and_backup_find_the_key_in_any_case(user, key_name):
    # given
    created = user.keys.create_ec_key(key_name)
    other_case = key_name.upper()
    # when
    fetched = user.keys.get_key(other_case)
    rotated = user.keys.rotate_key(other_case)
    backup = user.keys.backup_key(other_case)
    # then
    assert (fetched.name, fetched.properties.version) == (key_name, created.properties.version)
    assert rotated.name == key_name
    assert user.keys.get_key(key_name).properties.version == rotated.properties.version
    assert backup


def test_create_with_other_case_of_a_soft_deleted_key_conflicts(user, officer, key_name):
    # given
    user.keys.create_ec_key(key_name)
    user.keys.begin_delete_key(key_name, _polling_interval=0).wait()
    # when
    with pytest.raises(ResourceExistsError) as raised:
        user.keys.create_ec_key(key_name.upper())
    # then
    assert error_code(raised.value) == "Conflict"
    assert inner_code(raised.value) == "ObjectIsDeletedButRecoverable"
    assert officer.keys.get_deleted_key(key_name.upper()).name == key_name


@pytest.mark.parametrize(("_case", "suffix"), [("trailing newline", "\n"), ("NUL", "\x00")])
def test_a_name_with_a_control_character_is_refused(_case, suffix, user, key_name):
    # when
    with pytest.raises(HttpResponseError) as raised:
        user.keys.create_ec_key(key_name + suffix)
    # then
    assert raised.value.status_code == 400
    assert error_code(raised.value) == "BadParameter"
    assert [k for k in user.keys.list_properties_of_keys() if k.name.startswith(key_name)] == []


def test_an_assignment_at_a_key_scope_covers_the_key_in_any_case(
    hsm, admin, user, principal, key_name
):
    # given: a Crypto Auditor of /keys/<NAME> (upper case) on a key made in lower case
    key = user.keys.create_ec_key(key_name)
    admin.access_control.create_role_assignment(f"/keys/{key_name.upper()}", AUDITOR, principal)
    # when
    fetched = make_clients(hsm.url, hsm.ca_path, principal).keys.get_key(key_name)
    # then
    assert fetched.id == key.id


@pytest.mark.parametrize(
    ("_case", "call"),
    [
        ("get", lambda keys, name: keys.get_key(name)),
        ("rotate", lambda keys, name: keys.rotate_key(name)),
        ("update", lambda keys, name: keys.update_key_properties(name, enabled=False)),
        ("deleted", lambda keys, name: keys.get_deleted_key(name)),
    ],
)
def test_every_key_route_refuses_a_name_with_a_trailing_newline(_case, call, user, key_name):
    # given
    user.keys.create_ec_key(key_name)
    # when
    with pytest.raises(HttpResponseError) as raised:
        call(user.keys, key_name + "\n")
    # then
    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")
    assert user.keys.get_key(key_name).properties.enabled is True
