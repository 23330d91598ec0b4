"""State survives a crash (SIGKILL) and restart on the same data dir; reset wipes it."""

from __future__ import annotations

import uuid

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.keyvault.keys import KeyRotationLifetimeAction, KeyRotationPolicy
from emulator_helpers import (
    ADMIN,
    OFFICER,
    ROLE_ID_PREFIX,
    USER,
    digest,
    grant_test_roles,
    public_key,
    verify_locally,
)

from hsm_emulator.client.testing import EmulatorProcess, make_clients

AUDITOR = ROLE_ID_PREFIX + "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"


@pytest.fixture(scope="module")
def restarted(tmp_path_factory):
    """An emulator with state written before a SIGKILL and read after a fresh start."""
    process = EmulatorProcess(tmp_path_factory.mktemp("persist-hsm")).start()
    grant_test_roles(process)
    before = _write_state(process)
    process.kill()
    process.start()
    yield process, before
    process.stop()


def _write_state(process):
    admin = make_clients(process.url, process.ca_path, ADMIN)
    user = make_clients(process.url, process.ca_path, USER)
    versions = [user.keys.create_ec_key("persisted", curve="P-256")]
    versions += [user.keys.rotate_key("persisted") for _ in range(2)]
    policy = KeyRotationPolicy(
        expires_in="P60D",
        lifetime_actions=[KeyRotationLifetimeAction("Rotate", time_after_create="P30D")],
    )
    user.keys.update_key_rotation_policy("persisted", policy)
    user.keys.create_oct_key("deleted-one")
    user.keys.begin_delete_key("deleted-one", _polling_interval=0).wait()
    principal = str(uuid.uuid4())
    assignment = admin.access_control.create_role_assignment("/keys/persisted", AUDITOR, principal)
    role = str(uuid.uuid4())
    admin.access_control.set_role_definition("/", name=role, role_name="persisted-role")
    return {"versions": versions, "assignment": assignment, "role": role, "principal": principal}


def test_keys_and_all_versions_survive_a_restart(restarted):
    process, before = restarted
    user = make_clients(process.url, process.ca_path, USER)

    listed = [v.version for v in user.keys.list_properties_of_key_versions("persisted")]

    assert listed == [v.properties.version for v in before["versions"]]
    assert user.keys.get_key("persisted").id == before["versions"][-1].id


def test_old_versions_still_sign_after_a_restart(restarted):
    process, before = restarted
    oldest = before["versions"][0]
    value = digest("ES256", b"after restart")

    signed = make_clients(process.url, process.ca_path, USER).crypto(oldest.id).sign("ES256", value)

    verify_locally(public_key(oldest.key), "ES256", value, signed.signature)


def test_deleted_keys_rotation_policies_and_rbac_survive_a_restart(restarted):
    process, before = restarted
    admin = make_clients(process.url, process.ca_path, ADMIN)
    officer = make_clients(process.url, process.ca_path, OFFICER)
    user = make_clients(process.url, process.ca_path, USER)

    deleted = officer.keys.get_deleted_key("deleted-one")
    policy = user.keys.get_key_rotation_policy("persisted")
    assignment = admin.access_control.get_role_assignment(
        "/keys/persisted", before["assignment"].name
    )
    role = admin.access_control.get_role_definition("/", before["role"])

    assert deleted.name == "deleted-one"
    assert (policy.expires_in, policy.lifetime_actions[0].time_after_create) == ("P60D", "P30D")
    assert assignment.properties.principal_id == before["principal"]
    assert role.role_name == "persisted-role"


def test_reset_wipes_keys_roles_and_assignments_but_keeps_initial_admins(tmp_path):
    with EmulatorProcess(tmp_path / "reset-hsm") as process:
        grant_test_roles(process)
        make_clients(process.url, process.ca_path, USER).keys.create_ec_key("gone-after-reset")

        process.reset()

        admin = make_clients(process.url, process.ca_path, ADMIN)
        assignments = list(admin.access_control.list_role_assignments("/"))
        grant_test_roles(process)
        with pytest.raises(ResourceNotFoundError):
            make_clients(process.url, process.ca_path, USER).keys.get_key("gone-after-reset")
    assert [(a.properties.principal_id, a.properties.role_definition_id) for a in assignments] == [
        (ADMIN, ROLE_ID_PREFIX + "a290e904-7015-4bba-90c8-60543313cdb4")
    ]
