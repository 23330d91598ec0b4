"""Soft delete, recover, purge and per-key backup/restore through KeyClient."""

from __future__ import annotations

import datetime

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.keys.crypto import SignatureAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from emulator_helpers import (
    digest,
    ec_jwk,
    error_code,
    inner_code,
    public_key,
    verify_locally,
)


def test_delete_returns_deleted_key_with_recovery_id_and_dates(hsm, user, key_name):
    key = user.keys.create_ec_key(key_name)

    deleted = user.keys.begin_delete_key(key_name, _polling_interval=0).result()

    assert deleted.recovery_id == f"{hsm.url}/deletedkeys/{key_name}"
    assert deleted.id == key.id
    assert deleted.scheduled_purge_date - deleted.deleted_date == datetime.timedelta(days=90)
    assert deleted.properties.recovery_level == "Recoverable+Purgeable"


def test_deleted_key_is_gone_from_keys_and_listed_as_deleted(user, officer, key_name):
    user.keys.create_ec_key(key_name)
    user.keys.begin_delete_key(key_name, _polling_interval=0).wait()

    with pytest.raises(ResourceNotFoundError):
        user.keys.get_key(key_name)
    assert officer.keys.get_deleted_key(key_name).name == key_name
    assert key_name not in [item.name for item in user.keys.list_properties_of_keys()]


def test_list_deleted_keys_pages(officer, user, key_name):
    names = [f"{key_name}-{index}" for index in range(5)]
    for name in names:
        user.keys.create_ec_key(name)
        user.keys.begin_delete_key(name, _polling_interval=0).wait()

    pages = [list(page) for page in officer.keys.list_deleted_keys(max_page_size=2).by_page()]

    listed = [item.name for page in pages for item in page]
    assert [name for name in listed if name.startswith(key_name)] == names
    assert max(len(page) for page in pages) == 2
    assert all(item.recovery_id.endswith(f"/deletedkeys/{item.name}") for p in pages for item in p)


def test_get_deleted_key_that_is_not_deleted_is_not_found(officer, user, key_name):
    user.keys.create_ec_key(key_name)

    with pytest.raises(ResourceNotFoundError) as raised:
        officer.keys.get_deleted_key(key_name)

    assert raised.value.response.json()["error"]["message"] == f"Deleted Key not found: {key_name}"


def test_recover_restores_the_live_key_with_all_versions(officer, user, key_name):
    first = user.keys.create_ec_key(key_name)
    second = user.keys.rotate_key(key_name)
    user.keys.begin_delete_key(key_name, _polling_interval=0).wait()

    recovered = officer.keys.begin_recover_deleted_key(key_name, _polling_interval=0).result()

    assert recovered.id == second.id
    versions = [v.version for v in user.keys.list_properties_of_key_versions(key_name)]
    assert versions == [first.properties.version, second.properties.version]


def test_purge_frees_the_name(officer, user, key_name):
    user.keys.create_ec_key(key_name)
    user.keys.begin_delete_key(key_name, _polling_interval=0).wait()

    officer.keys.purge_deleted_key(key_name)

    with pytest.raises(ResourceNotFoundError):
        officer.keys.get_deleted_key(key_name)
    assert user.keys.create_ec_key(key_name).name == key_name


def test_purge_of_a_live_key_is_not_found(officer, user, key_name):
    user.keys.create_ec_key(key_name)

    with pytest.raises(ResourceNotFoundError):
        officer.keys.purge_deleted_key(key_name)


@pytest.mark.parametrize(
    ("_case", "reuse"),
    [
        ("create", lambda keys, name: keys.create_ec_key(name)),
        (
            "import",
            lambda keys, name: keys.import_key(
                name, ec_jwk(ec.generate_private_key(ec.SECP256R1()))
            ),
        ),
    ],
)
def test_reusing_a_soft_deleted_name_conflicts(_case, reuse, user, key_name):
    user.keys.create_ec_key(key_name)
    user.keys.begin_delete_key(key_name, _polling_interval=0).wait()

    with pytest.raises(ResourceExistsError) as raised:
        reuse(user.keys, key_name)

    assert error_code(raised.value) == "Conflict"
    assert inner_code(raised.value) == "ObjectIsDeletedButRecoverable"


def test_backup_and_restore_bring_back_every_version_with_its_id(user, officer, key_name):
    versions = [user.keys.create_ec_key(key_name, curve="P-256")]
    versions += [user.keys.rotate_key(key_name) for _ in range(2)]
    blob = user.keys.backup_key(key_name)
    user.keys.begin_delete_key(key_name, _polling_interval=0).wait()
    officer.keys.purge_deleted_key(key_name)

    restored = user.keys.restore_key_backup(blob)

    assert restored.id == versions[-1].id
    listed = [v.version for v in user.keys.list_properties_of_key_versions(key_name)]
    assert listed == [v.properties.version for v in versions]
    oldest = versions[0]
    value = digest("ES256", b"old version still works")
    signed = user.crypto(oldest.id).sign(SignatureAlgorithm.es256, value)
    verify_locally(public_key(oldest.key), "ES256", value, signed.signature)


def test_restore_onto_an_existing_name_conflicts(user, key_name):
    user.keys.create_ec_key(key_name)
    blob = user.keys.backup_key(key_name)

    with pytest.raises(ResourceExistsError) as raised:
        user.keys.restore_key_backup(blob)

    assert error_code(raised.value) == "Conflict"


def test_restore_onto_a_deleted_name_conflicts(user, key_name):
    user.keys.create_ec_key(key_name)
    blob = user.keys.backup_key(key_name)
    user.keys.begin_delete_key(key_name, _polling_interval=0).wait()

    with pytest.raises(ResourceExistsError) as raised:
        user.keys.restore_key_backup(blob)

    assert inner_code(raised.value) == "ObjectIsDeletedButRecoverable"


@pytest.mark.parametrize(
    ("_case", "tamper"),
    [
        ("flipped-byte", lambda blob: blob[:-1] + bytes([blob[-1] ^ 1])),
        ("truncated", lambda blob: blob[: len(blob) // 2]),
        ("foreign", lambda blob: b"not a backup at all"),
    ],
)
def test_restore_of_a_tampered_backup_is_bad_parameter(_case, tamper, user, key_name):
    user.keys.create_ec_key(key_name)
    blob = user.keys.backup_key(key_name)

    with pytest.raises(HttpResponseError) as raised:
        user.keys.restore_key_backup(tamper(blob))

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")
