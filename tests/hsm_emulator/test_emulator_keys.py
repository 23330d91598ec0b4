"""Key management through KeyClient: create, import, get, list/paging, update, random bytes,
attestation."""

from __future__ import annotations

import datetime
import json
import re

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.keys import (
    JsonWebKey,
    KeyReleasePolicy,
)
from azure.keyvault.keys.crypto import SignatureAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from emulator_helpers import (
    digest,
    ec_jwk,
    error_code,
    public_key,
    rsa_jwk,
    verify_locally,
)

HEX_VERSION = re.compile(r"^[0-9a-f]{32}$")
RELEASE_POLICY = KeyReleasePolicy(json.dumps({"version": "1.0.0", "anyOf": []}).encode())
UTC = datetime.timezone.utc


@pytest.mark.parametrize(("_case", "size"), [("rsa-2048", 2048), ("rsa-3072", 3072)])
def test_create_rsa_key_reports_rsa_hsm_with_public_jwk_only(_case, size, hsm, user, key_name):
    key = user.keys.create_rsa_key(key_name, size=size)

    assert key.key_type == "RSA-HSM"
    assert len(key.key.n) == size // 8
    assert key.key.e == b"\x01\x00\x01"
    assert key.key.d is None
    assert key.key.key_ops == ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]
    assert key.id == f"{hsm.url}/keys/{key_name}/{key.properties.version}"
    assert HEX_VERSION.match(key.properties.version)


def test_create_rsa_4096_key_with_hardware_protection(user, key_name):
    key = user.keys.create_rsa_key(key_name, size=4096, hardware_protected=True)

    assert (key.key_type, len(key.key.n)) == ("RSA-HSM", 512)


@pytest.mark.parametrize(("_case", "exponent"), [("e=17", 17), ("e=3", 3), ("e=257", 257)])
def test_rsa_key_with_another_odd_exponent_signs_verifiably(
    _case, exponent, user, remote, key_name
):
    # given
    key = user.keys.create_rsa_key(key_name, size=2048, public_exponent=exponent)
    message_digest = digest("PS256", b"orders batch 42")
    # when
    signed = remote.crypto(key.id).sign(SignatureAlgorithm.ps256, message_digest)
    rotated = user.keys.rotate_key(key_name)
    # then
    local = public_key(key.key)
    verify_locally(local, "PS256", message_digest, signed.signature)
    assert local.public_numbers().e == exponent
    assert (key.key_type, len(key.key.n), int.from_bytes(key.key.e, "big")) == (
        "RSA-HSM",
        256,
        exponent,
    )
    assert int.from_bytes(rotated.key.e, "big") == exponent
    assert rotated.key.n != key.key.n


@pytest.mark.parametrize(
    ("_case", "exponent"), [("even", 4), ("one", 1), ("zero", 0), ("negative", -17)]
)
def test_rsa_exponent_that_is_even_or_below_three_is_refused(_case, exponent, user, key_name):
    with pytest.raises(HttpResponseError) as raised:
        user.keys.create_rsa_key(key_name, size=2048, public_exponent=exponent)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")
    assert raised.value.message.endswith(
        f"Invalid public_exponent {exponent}; it must be an odd number of at least 3."
    )
    with pytest.raises(ResourceNotFoundError):
        user.keys.get_key(key_name)


@pytest.mark.parametrize(
    ("_case", "curve", "coordinate_bytes"),
    [("p256", "P-256", 32), ("p256k", "P-256K", 32), ("p384", "P-384", 48), ("p521", "P-521", 66)],
)
def test_create_ec_key_reports_curve_and_fixed_length_point(
    _case, curve, coordinate_bytes, user, key_name
):
    key = user.keys.create_ec_key(key_name, curve=curve, hardware_protected=True)

    assert key.key_type == "EC-HSM"
    assert key.key.crv == curve
    assert (len(key.key.x), len(key.key.y)) == (coordinate_bytes, coordinate_bytes)
    assert key.key.d is None
    assert key.key.key_ops == ["sign", "verify"]


@pytest.mark.parametrize(("_case", "size"), [("aes128", 128), ("aes192", 192), ("aes256", 256)])
def test_create_oct_key_never_returns_key_material(_case, size, user, key_name):
    key = user.keys.create_oct_key(key_name, size=size, hardware_protected=True)

    assert key.key_type == "oct-HSM"
    assert key.key.k is None
    assert key.key.key_ops == ["encrypt", "decrypt", "wrapKey", "unwrapKey"]


def test_create_key_keeps_ops_tags_and_validity_window(user, key_name):
    not_before = datetime.datetime(2024, 1, 1, tzinfo=UTC)
    expires_on = datetime.datetime(2040, 1, 1, tzinfo=UTC)

    key = user.keys.create_ec_key(
        key_name,
        curve="P-384",
        key_operations=["sign"],
        tags={"team": "payments"},
        not_before=not_before,
        expires_on=expires_on,
    )

    fetched = user.keys.get_key(key_name)
    assert fetched.key_operations == ["sign"]
    assert fetched.properties.tags == {"team": "payments"}
    assert fetched.properties.not_before == not_before
    assert fetched.properties.expires_on == expires_on
    assert fetched.properties.enabled is True
    assert fetched.properties.recovery_level == "Recoverable+Purgeable"
    assert fetched.properties.recoverable_days == 90
    assert fetched.id == key.id


@pytest.mark.parametrize(
    ("_case", "kwargs", "message"),
    [
        ("bad-rsa-size", {"kty": "RSA-HSM", "size": 1024}, "Invalid key_size 1024"),
        ("bad-oct-size", {"kty": "oct-HSM", "size": 512}, "Invalid key_size 512"),
        ("bad-curve", {"kty": "EC-HSM", "curve": "P-192"}, "Invalid curve name: P-192"),
        ("bad-kty", {"kty": "DSA"}, "Invalid kty value: DSA"),
        ("ec-encrypt-op", {"kty": "EC-HSM", "key_operations": ["encrypt"]}, "not supported"),
        ("unknown-op", {"kty": "RSA-HSM", "key_operations": ["fly"]}, "Invalid key operation"),
        ("exportable-no-policy", {"kty": "RSA-HSM", "exportable": True}, "must have a release"),
        (
            "policy-not-exportable",
            {"kty": "RSA-HSM", "release_policy": RELEASE_POLICY},
            "must not have a release policy",
        ),
    ],
)
def test_create_key_refuses_invalid_parameters(_case, kwargs, message, user, key_name):
    kty = kwargs.pop("kty")

    with pytest.raises(HttpResponseError) as raised:
        user.keys.create_key(key_name, kty, **kwargs)

    assert raised.value.status_code == 400
    assert error_code(raised.value) == "BadParameter"
    assert message in raised.value.message


def test_create_exportable_key_with_release_policy(user, key_name):
    key = user.keys.create_rsa_key(key_name, exportable=True, release_policy=RELEASE_POLICY)

    assert key.properties.exportable is True
    assert key.properties.release_policy.encoded_policy == RELEASE_POLICY.encoded_policy
    assert key.properties.release_policy.immutable is False


def test_create_with_invalid_name_is_bad_parameter(user):
    with pytest.raises(HttpResponseError) as raised:
        user.keys.create_ec_key("bad_name!")

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")


def test_get_key_returns_latest_or_requested_version(user, key_name):
    first = user.keys.create_ec_key(key_name)
    second = user.keys.create_ec_key(key_name)

    assert user.keys.get_key(key_name).id == second.id
    assert user.keys.get_key(key_name, first.properties.version).id == first.id
    assert user.keys.get_key(key_name, first.properties.version).key.x == first.key.x


def test_get_missing_key_is_key_not_found(user, key_name):
    with pytest.raises(ResourceNotFoundError) as raised:
        user.keys.get_key(key_name)

    assert error_code(raised.value) == "KeyNotFound"
    assert raised.value.message.startswith("(KeyNotFound) A key with (name/id)")


def test_get_missing_version_is_key_not_found(user, key_name):
    user.keys.create_ec_key(key_name)

    with pytest.raises(ResourceNotFoundError):
        user.keys.get_key(key_name, "0" * 32)


def test_list_keys_follows_next_links_past_the_first_page(hsm, user, key_name):
    names = [f"{key_name}-{index}" for index in range(5)]
    for name in names:
        user.keys.create_ec_key(name)
    seq = hsm.latest_seq()

    pages = [list(page) for page in user.keys.list_properties_of_keys(max_page_size=2).by_page()]

    listed = [item.name for page in pages for item in page]
    assert [name for name in listed if name.startswith(key_name)] == names
    assert max(len(page) for page in pages) == 2
    assert all(item.version is None for page in pages for item in page)
    key_pages = [entry for entry in hsm.requests_since(seq) if entry["path"] == "/keys"]
    assert len(key_pages) == len(pages)


def test_list_key_versions_pages_in_creation_order(user, key_name):
    created = [user.keys.create_ec_key(key_name).properties.version]
    created += [user.keys.rotate_key(key_name).properties.version for _ in range(4)]

    pager = user.keys.list_properties_of_key_versions(key_name, max_page_size=2)
    pages = [list(page) for page in pager.by_page()]

    assert [item.version for page in pages for item in page] == created
    assert [len(page) for page in pages] == [2, 2, 1]


def test_list_versions_of_missing_key_is_not_found(user, key_name):
    with pytest.raises(ResourceNotFoundError):
        list(user.keys.list_properties_of_key_versions(key_name))


def test_update_changes_only_the_fields_sent_and_advances_updated(user, key_name):
    key = user.keys.create_ec_key(key_name, tags={"a": "1"}, key_operations=["sign", "verify"])

    updated = user.keys.update_key_properties(key_name, tags={"b": "2"})

    assert updated.properties.tags == {"b": "2"}
    assert updated.key_operations == ["sign", "verify"]
    assert updated.properties.enabled is True
    assert updated.properties.version == key.properties.version
    assert updated.properties.updated_on > key.properties.updated_on
    assert updated.properties.created_on == key.properties.created_on


def test_update_specific_version_leaves_latest_alone(user, key_name):
    first = user.keys.create_ec_key(key_name)
    user.keys.rotate_key(key_name)

    user.keys.update_key_properties(
        key_name, first.properties.version, enabled=False, key_operations=["verify"]
    )

    assert user.keys.get_key(key_name, first.properties.version).properties.enabled is False
    assert user.keys.get_key(key_name, first.properties.version).key_operations == ["verify"]
    assert user.keys.get_key(key_name).properties.enabled is True


def test_update_cannot_replace_an_immutable_release_policy(user, key_name):
    immutable = KeyReleasePolicy(RELEASE_POLICY.encoded_policy, immutable=True)
    user.keys.create_rsa_key(key_name, exportable=True, release_policy=immutable)

    with pytest.raises(HttpResponseError) as raised:
        user.keys.update_key_properties(key_name, release_policy=RELEASE_POLICY)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")


@pytest.mark.parametrize(("_case", "count"), [("one", 1), ("max", 128)])
def test_random_bytes_returns_the_requested_count(_case, count, user):
    assert len(user.keys.get_random_bytes(count)) == count


def test_random_bytes_above_128_is_bad_parameter(user):
    with pytest.raises(HttpResponseError) as raised:
        user.keys.get_random_bytes(129)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")


def test_import_rsa_jwk_never_echoes_private_parts_and_signs(user, key_name):
    private = rsa.generate_private_key(65537, 2048)

    imported = user.keys.import_key(key_name, rsa_jwk(private), hardware_protected=True)

    assert imported.key_type == "RSA-HSM"
    assert (imported.key.d, imported.key.p, imported.key.q) == (None, None, None)
    value = digest("PS256", b"imported")
    signature = user.crypto(imported.id).sign(SignatureAlgorithm.ps256, value).signature
    verify_locally(private.public_key(), "PS256", value, signature)


def test_import_ec_jwk_signs_with_the_imported_key(user, key_name):
    private = ec.generate_private_key(ec.SECP384R1())

    imported = user.keys.import_key(key_name, ec_jwk(private, crv="P-384"))

    value = digest("ES384", b"imported ec")
    signature = user.crypto(imported.id).sign(SignatureAlgorithm.es384, value).signature
    verify_locally(private.public_key(), "ES384", value, signature)
    assert (imported.key_type, imported.key.d) == ("EC-HSM", None)


def test_import_oct_jwk_returns_no_k(user, key_name):
    imported = user.keys.import_key(key_name, JsonWebKey(kty="oct", k=bytes(range(32))))

    assert (imported.key_type, imported.key.k) == ("oct-HSM", None)


def test_import_without_private_part_is_bad_parameter(user, key_name):
    public_only = rsa_jwk(rsa.generate_private_key(65537, 2048))
    public_only.d = None

    with pytest.raises(HttpResponseError) as raised:
        user.keys.import_key(key_name, public_only)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")


def test_import_existing_name_adds_a_version(user, key_name):
    first = user.keys.create_ec_key(key_name)

    second = user.keys.import_key(key_name, ec_jwk(ec.generate_private_key(ec.SECP256R1())))

    assert second.properties.version != first.properties.version
    assert [v.version for v in user.keys.list_properties_of_key_versions(key_name)] == [
        first.properties.version,
        second.properties.version,
    ]


def test_attestation_is_returned_with_the_bundle(user, key_name):
    key = user.keys.create_rsa_key(key_name)

    attested = user.keys.get_key_attestation(key_name)

    assert attested.id == key.id
    assert attested.properties.attestation.version == "1.0"
    assert b"BEGIN CERTIFICATE" in attested.properties.attestation.certificate_pem_file


def test_new_key_timestamps_are_whole_seconds(user, key_name):
    key = user.keys.create_ec_key(key_name)

    assert key.properties.created_on.microsecond == 0
    assert key.properties.created_on == key.properties.updated_on
