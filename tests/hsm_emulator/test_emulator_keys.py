"""Key management through KeyClient: create, import, get, list/paging, update, rotate,
rotation policy, soft delete/recover/purge, backup/restore, random bytes."""

from __future__ import annotations

import datetime
import json
import re
import time

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.keyvault.keys import (
    JsonWebKey,
    KeyReleasePolicy,
    KeyRotationLifetimeAction,
    KeyRotationPolicy,
    KeyRotationPolicyAction,
)
from azure.keyvault.keys.crypto import SignatureAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from emulator_helpers import (
    digest,
    error_code,
    inner_code,
    public_key,
    verify_locally,
)

HEX_VERSION = re.compile(r"^[0-9a-f]{32}$")
RELEASE_POLICY = KeyReleasePolicy(json.dumps({"version": "1.0.0", "anyOf": []}).encode())
UTC = datetime.timezone.utc


def _utc(seconds: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, tz=UTC)


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


@pytest.mark.parametrize(
    ("_case", "create"),
    [
        ("rsa", lambda keys, name: keys.create_rsa_key(name, size=2048, key_operations=["sign"])),
        ("ec", lambda keys, name: keys.create_ec_key(name, curve="P-521")),
        ("oct", lambda keys, name: keys.create_oct_key(name, size=192)),
    ],
)
def test_rotate_creates_version_with_same_type_size_and_ops(_case, create, user, key_name):
    original = create(user.keys, key_name)

    rotated = user.keys.rotate_key(key_name)

    assert rotated.properties.version != original.properties.version
    assert rotated.key_type == original.key_type
    assert rotated.key.crv == original.key.crv
    assert len(rotated.key.n or b"") == len(original.key.n or b"")
    assert rotated.key_operations == original.key_operations
    assert user.keys.get_key(key_name).id == rotated.id


def test_rotate_missing_key_is_not_found(user, key_name):
    with pytest.raises(ResourceNotFoundError):
        user.keys.rotate_key(key_name)


def test_rotation_policy_defaults_to_notify_30_days_before_expiry(hsm, user, key_name):
    user.keys.create_ec_key(key_name)

    policy = user.keys.get_key_rotation_policy(key_name)

    assert policy.id == f"{hsm.url}/keys/{key_name}/rotationpolicy"
    assert [(a.action, a.time_before_expiry) for a in policy.lifetime_actions] == [
        ("Notify", "P30D")
    ]


def test_rotation_policy_round_trips_with_canonical_action_names(user, key_name):
    user.keys.create_ec_key(key_name)
    policy = KeyRotationPolicy(
        expires_in="P90D",
        lifetime_actions=[
            KeyRotationLifetimeAction("rotate", time_after_create="P30D"),
            KeyRotationLifetimeAction("NOTIFY", time_before_expiry="P7D"),
        ],
    )

    stored = user.keys.update_key_rotation_policy(key_name, policy)
    fetched = user.keys.get_key_rotation_policy(key_name)

    assert stored.expires_in == fetched.expires_in == "P90D"
    assert [
        (a.action, a.time_after_create, a.time_before_expiry) for a in fetched.lifetime_actions
    ] == [
        (KeyRotationPolicyAction.rotate, "P30D", None),
        (KeyRotationPolicyAction.notify, None, "P7D"),
    ]
    assert fetched.created_on == stored.created_on
    assert fetched.updated_on is not None


@pytest.mark.parametrize(
    ("_case", "actions", "expires_in", "message"),
    [
        ("expiry-below-28-days", [], "P27D", "at least 28 days"),
        ("bad-duration", [("Rotate", "P1X", None)], None, "not a valid ISO-8601 duration"),
        ("notify-after-create", [("Notify", "P30D", None)], None, "only allowed for the Rotate"),
        ("two-triggers", [("Rotate", "P30D", "P7D")], None, "exactly one of"),
        ("no-trigger", [("Rotate", None, None)], None, "exactly one of"),
        ("two-rotates", [("Rotate", "P30D", None), ("Rotate", "P60D", None)], None, "At most one"),
        ("unknown-type", [("Explode", "P30D", None)], None, "Invalid lifetime action type"),
    ],
)
def test_rotation_policy_validation_is_bad_parameter(
    _case, actions, expires_in, message, user, key_name
):
    user.keys.create_ec_key(key_name)
    policy = KeyRotationPolicy(
        expires_in=expires_in,
        lifetime_actions=[
            KeyRotationLifetimeAction(kind, time_after_create=after, time_before_expiry=before)
            for kind, after, before in actions
        ],
    )

    with pytest.raises(HttpResponseError) as raised:
        user.keys.update_key_rotation_policy(key_name, policy)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")
    assert message in raised.value.message


def test_rotate_sets_expiry_from_policy_expiry_time(user, key_name):
    user.keys.create_ec_key(key_name)
    user.keys.update_key_rotation_policy(key_name, KeyRotationPolicy(expires_in="P30D"))
    before = datetime.datetime.now(UTC).replace(microsecond=0)

    rotated = user.keys.rotate_key(key_name)

    expected = before + datetime.timedelta(days=30)
    assert expected <= rotated.properties.expires_on <= expected + datetime.timedelta(seconds=5)


def test_due_rotation_policy_rotates_on_tick(hsm, user, key_name):
    original = user.keys.create_ec_key(key_name)
    policy = KeyRotationPolicy(
        lifetime_actions=[KeyRotationLifetimeAction("Rotate", time_after_create="PT1S")]
    )
    user.keys.update_key_rotation_policy(key_name, policy)
    user.keys.update_key_properties(key_name, tags={"t": "1"})  # updated stamp moves, created not

    rotated_names = _tick_until(hsm, key_name)

    assert key_name in rotated_names
    assert user.keys.get_key(key_name).properties.version != original.properties.version


def test_rotation_due_before_expiry_rotates_on_tick(hsm, user, key_name):
    soon = datetime.datetime.now(UTC) + datetime.timedelta(days=10)
    original = user.keys.create_ec_key(key_name, expires_on=soon)
    policy = KeyRotationPolicy(
        expires_in="P90D",
        lifetime_actions=[KeyRotationLifetimeAction("Rotate", time_before_expiry="P30D")],
    )
    user.keys.update_key_rotation_policy(key_name, policy)

    rotated_names = hsm.rotation_tick()

    latest = user.keys.get_key(key_name)
    assert key_name in rotated_names
    assert latest.properties.version != original.properties.version
    assert latest.properties.expires_on > soon + datetime.timedelta(days=70)


def test_rotation_not_yet_due_leaves_the_key_alone(hsm, user, key_name):
    original = user.keys.create_ec_key(key_name)
    policy = KeyRotationPolicy(
        lifetime_actions=[KeyRotationLifetimeAction("Rotate", time_after_create="P30D")]
    )
    user.keys.update_key_rotation_policy(key_name, policy)

    rotated_names = hsm.rotation_tick()

    assert key_name not in rotated_names
    assert user.keys.get_key(key_name).id == original.id


def _tick_until(hsm, key_name):
    deadline = time.monotonic() + 5
    rotated: list[str] = []
    while key_name not in rotated and time.monotonic() < deadline:
        time.sleep(0.5)
        rotated = hsm.rotation_tick()
    return rotated


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
                name, _ec_jwk(ec.generate_private_key(ec.SECP256R1()))
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


@pytest.mark.parametrize(("_case", "count"), [("one", 1), ("max", 128)])
def test_random_bytes_returns_the_requested_count(_case, count, user):
    assert len(user.keys.get_random_bytes(count)) == count


def test_random_bytes_above_128_is_bad_parameter(user):
    with pytest.raises(HttpResponseError) as raised:
        user.keys.get_random_bytes(129)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")


def _rsa_jwk(private: rsa.RSAPrivateKey, **extra) -> JsonWebKey:
    numbers = private.private_numbers()
    as_bytes = {
        "n": numbers.public_numbers.n,
        "e": numbers.public_numbers.e,
        "d": numbers.d,
        "p": numbers.p,
        "q": numbers.q,
        "dp": numbers.dmp1,
        "dq": numbers.dmq1,
        "qi": numbers.iqmp,
    }
    fields = {k: v.to_bytes((v.bit_length() + 7) // 8, "big") for k, v in as_bytes.items()}
    return JsonWebKey(kty="RSA", **fields, **extra)


def _ec_jwk(private: ec.EllipticCurvePrivateKey, crv: str = "P-256", **extra) -> JsonWebKey:
    size = (private.curve.key_size + 7) // 8
    numbers = private.private_numbers()
    return JsonWebKey(
        kty="EC",
        crv=crv,
        x=numbers.public_numbers.x.to_bytes(size, "big"),
        y=numbers.public_numbers.y.to_bytes(size, "big"),
        d=numbers.private_value.to_bytes(size, "big"),
        **extra,
    )


def test_import_rsa_jwk_never_echoes_private_parts_and_signs(user, key_name):
    private = rsa.generate_private_key(65537, 2048)

    imported = user.keys.import_key(key_name, _rsa_jwk(private), hardware_protected=True)

    assert imported.key_type == "RSA-HSM"
    assert (imported.key.d, imported.key.p, imported.key.q) == (None, None, None)
    value = digest("PS256", b"imported")
    signature = user.crypto(imported.id).sign(SignatureAlgorithm.ps256, value).signature
    verify_locally(private.public_key(), "PS256", value, signature)


def test_import_ec_jwk_signs_with_the_imported_key(user, key_name):
    private = ec.generate_private_key(ec.SECP384R1())

    imported = user.keys.import_key(key_name, _ec_jwk(private, crv="P-384"))

    value = digest("ES384", b"imported ec")
    signature = user.crypto(imported.id).sign(SignatureAlgorithm.es384, value).signature
    verify_locally(private.public_key(), "ES384", value, signature)
    assert (imported.key_type, imported.key.d) == ("EC-HSM", None)


def test_import_oct_jwk_returns_no_k(user, key_name):
    imported = user.keys.import_key(key_name, JsonWebKey(kty="oct", k=bytes(range(32))))

    assert (imported.key_type, imported.key.k) == ("oct-HSM", None)


def test_import_without_private_part_is_bad_parameter(user, key_name):
    public_only = _rsa_jwk(rsa.generate_private_key(65537, 2048))
    public_only.d = None

    with pytest.raises(HttpResponseError) as raised:
        user.keys.import_key(key_name, public_only)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")


def test_import_existing_name_adds_a_version(user, key_name):
    first = user.keys.create_ec_key(key_name)

    second = user.keys.import_key(key_name, _ec_jwk(ec.generate_private_key(ec.SECP256R1())))

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
