"""BYOK import end to end: a KEK in the emulator, a key wrapped locally with `cryptography`
(RSA-OAEP-SHA1 transport key || RFC 5649 AES-KWP), imported through KeyClient.import_key."""

from __future__ import annotations

import json
import os

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys import JsonWebKey
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
from emulator_helpers import b64url, digest, error_code, public_key, verify_locally

from hsm_emulator.client.testing import byok_transfer_blob

SHA1_OAEP = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)  # noqa: S303


@pytest.fixture(scope="module")
def kek(user):
    return user.keys.create_rsa_key(
        f"kek-{os.urandom(6).hex()}", size=2048, key_operations=["import"]
    )


def _pkcs8(private) -> bytes:
    return private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _wrapped(kek, target: bytes) -> bytes:
    transport = os.urandom(32)
    return public_key(kek.key).encrypt(transport, SHA1_OAEP) + aes_key_wrap_with_padding(
        transport, target
    )


def _envelope(kek, target: bytes) -> bytes:
    document = {
        "schema_version": "1.0.0",
        "header": {"kid": kek.id, "alg": "dir", "enc": "CKM_RSA_AES_KEY_WRAP"},
        "ciphertext": b64url(_wrapped(kek, target)),
        "generator": "keywarden tests; cryptography",
    }
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("_case", "private", "alg"),
    [
        ("rsa-2048", rsa.generate_private_key(65537, 2048), "RS256"),
        ("ec-p256", ec.generate_private_key(ec.SECP256R1()), "ES256"),
        ("ec-p384", ec.generate_private_key(ec.SECP384R1()), "ES384"),
    ],
)
def test_byok_imported_key_signs_verifiably_with_the_local_public_key(
    _case, private, alg, kek, user, key_name
):
    kty = "RSA-HSM" if alg.startswith("RS") else "EC-HSM"
    jwk = JsonWebKey(
        kid=kek.id, kty=kty, t=_envelope(kek, _pkcs8(private)), key_ops=["sign", "verify"]
    )

    imported = user.keys.import_key(key_name, jwk)

    assert imported.key_type == kty
    assert imported.key_operations == ["sign", "verify"]
    value = digest(alg, b"signed inside the HSM")
    signature = user.crypto(imported.id).sign(alg, value).signature
    verify_locally(private.public_key(), alg, value, signature)


def test_byok_imported_aes_key_encrypts_for_the_local_key(kek, user, remote, key_name):
    secret = os.urandom(32)
    jwk = JsonWebKey(
        kid=kek.id, kty="oct-HSM", t=_envelope(kek, secret), key_ops=["encrypt", "decrypt"]
    )

    imported = user.keys.import_key(key_name, jwk)

    result = remote.crypto(imported.id).encrypt("A256GCM", b"byok aes")
    assert AESGCM(secret).decrypt(result.iv, result.ciphertext + result.tag, None) == b"byok aes"
    assert imported.key.k is None


def test_byok_accepts_a_bare_blob_without_envelope(kek, user, key_name):
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = JsonWebKey(kid=kek.id, kty="EC-HSM", t=_wrapped(kek, _pkcs8(private)))

    imported = user.keys.import_key(key_name, jwk)

    assert public_key(imported.key).public_numbers() == private.public_key().public_numbers()


@pytest.mark.parametrize(
    ("_case", "blob"),
    [
        ("garbage", lambda kek: b"\x00" * 300),
        ("truncated", lambda kek: _wrapped(kek, os.urandom(32))[:250]),
        ("corrupted-kwp", lambda kek: _wrapped(kek, os.urandom(32))[:-1] + b"\x00"),
        ("envelope-bad-ciphertext", lambda kek: json.dumps({"ciphertext": "!!"}).encode()),
    ],
)
def test_byok_with_a_bad_blob_is_bad_parameter(_case, blob, kek, user, key_name):
    jwk = JsonWebKey(kid=kek.id, kty="oct-HSM", t=blob(kek))

    with pytest.raises(HttpResponseError) as raised:
        user.keys.import_key(key_name, jwk)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")


def test_byok_target_type_must_match_kty(kek, user, key_name):
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = JsonWebKey(kid=kek.id, kty="RSA-HSM", t=_envelope(kek, _pkcs8(private)))

    with pytest.raises(HttpResponseError) as raised:
        user.keys.import_key(key_name, jwk)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")


def test_byok_kek_must_be_import_only(user, key_name):
    not_a_kek = user.keys.create_rsa_key(f"{key_name}-kek", size=2048)
    jwk = JsonWebKey(kid=not_a_kek.id, kty="oct-HSM", t=_envelope(not_a_kek, os.urandom(32)))

    with pytest.raises(HttpResponseError) as raised:
        user.keys.import_key(key_name, jwk)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")
    assert "Key Exchange Key" in raised.value.message


def test_testing_helper_builds_blobs_the_emulator_accepts(kek, user, key_name):
    private = ec.generate_private_key(ec.SECP521R1())
    blob = byok_transfer_blob(kek.id, public_key(kek.key), private)

    imported = user.keys.import_key(key_name, JsonWebKey(kid=kek.id, kty="EC-HSM", t=blob))

    assert public_key(imported.key).public_numbers() == private.public_key().public_numbers()


def test_byok_accepts_pkcs8_zero_padded_to_eight_bytes_as_softhsm_wraps_it(kek, user, key_name):
    # SoftHSM 2.6 pads the PKCS#8 with zeros to a multiple of 8 before AES-KWP
    private = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = _pkcs8(private)
    padded = pkcs8 + b"\x00" * (-len(pkcs8) % 8)
    assert len(padded) - len(pkcs8) == 6  # a P-256 PKCS#8 is 138 bytes
    jwk = JsonWebKey(kid=kek.id, kty="EC-HSM", t=_envelope(kek, padded))

    imported = user.keys.import_key(key_name, jwk)

    assert public_key(imported.key).public_numbers() == private.public_key().public_numbers()
