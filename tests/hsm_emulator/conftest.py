"""Fixtures for the emulator conformance tests: one emulator subprocess per session, principals
with built-in and custom roles, and official SDK clients acting as each of them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from azure.keyvault.administration import KeyVaultDataAction, KeyVaultPermission
from emulator_helpers import (
    ADMIN,
    OFFICER,
    REMOTE,
    ROLE_ID_PREFIX,
    USER,
    grant_test_roles,
)

from hsm_emulator.client.testing import EmulatorClients, EmulatorProcess, make_clients

NO_READ_ROLE = "40000000-0000-0000-0000-000000000004"
NO_READ_ACTIONS = [
    KeyVaultDataAction.ENCRYPT_HSM_KEY,
    KeyVaultDataAction.DECRYPT_HSM_KEY,
    KeyVaultDataAction.SIGN_HSM_KEY,
    KeyVaultDataAction.VERIFY_HSM_KEY,
    KeyVaultDataAction.WRAP_HSM_KEY,
    KeyVaultDataAction.UNWRAP_HSM_KEY,
    KeyVaultDataAction.RELEASE_KEY,
]


@pytest.fixture(scope="session")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    """The shared emulator; automatic rotation is slowed down so it never interferes."""
    with EmulatorProcess(
        tmp_path_factory.mktemp("hsm"), extra_args=["--rotation-tick", "3600"]
    ) as process:
        _grant_test_roles(process)
        yield process


def _grant_test_roles(process: EmulatorProcess) -> None:
    grant_test_roles(process)
    admin = make_clients(process.url, process.ca_path, ADMIN).access_control
    admin.set_role_definition(
        "/",
        name=NO_READ_ROLE,
        role_name="test crypto without read",
        permissions=[KeyVaultPermission(data_actions=NO_READ_ACTIONS)],
    )
    admin.create_role_assignment("/", ROLE_ID_PREFIX + NO_READ_ROLE, REMOTE)


@pytest.fixture(scope="session")
def admin(hsm: EmulatorProcess) -> EmulatorClients:
    """Clients of the initial administrator (roles, backups; no key use)."""
    return make_clients(hsm.url, hsm.ca_path, ADMIN)


@pytest.fixture(scope="session")
def user(hsm: EmulatorProcess) -> EmulatorClients:
    """Clients of a Crypto User at ``/``."""
    return make_clients(hsm.url, hsm.ca_path, USER)


@pytest.fixture(scope="session")
def officer(hsm: EmulatorProcess) -> EmulatorClients:
    """Clients of a Crypto Officer at ``/`` (recover, purge, deleted keys)."""
    return make_clients(hsm.url, hsm.ca_path, OFFICER)


@pytest.fixture(scope="session")
def remote(hsm: EmulatorProcess) -> EmulatorClients:
    """Clients of a principal that may use keys but not read them: every crypto call is remote."""
    return make_clients(hsm.url, hsm.ca_path, REMOTE)


@pytest.fixture
def key_name() -> str:
    """A key name no other test uses."""
    return f"k-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def principal() -> str:
    """A fresh principal object id without any role."""
    return str(uuid.uuid4())
