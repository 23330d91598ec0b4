"""Cryptographic operations through CryptographyClient, checked with local cryptography.

The ``remote`` principal may use keys but not read them, so its CryptographyClient sends every
operation to the emulator (no local shortcut); results are verified locally from the returned
public JWK or from key material the test imported itself.
"""

from __future__ import annotations

import datetime
import os
import uuid

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys import JsonWebKey
from azure.keyvault.keys.crypto import EncryptionAlgorithm, KeyWrapAlgorithm
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import padding as symmetric_padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    aes_key_unwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap,
)
from emulator_helpers import (
    digest,
    error_code,
    inner_code,
    public_key,
    rsa_padding,
    verify_locally,
)

UTC = datetime.timezone.utc


def _name() -> str:
    return f"c-{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="module")
def rsa_key(user):
    return user.keys.create_rsa_key(_name(), size=2048)


@pytest.fixture(scope="module")
def ec_keys(user):
    return {
        curve: user.keys.create_ec_key(_name(), curve=curve)
        for curve in ("P-256", "P-256K", "P-384", "P-521")
    }


@pytest.fixture(scope="module")
def imported_rsa(user):
    """An RSA key whose private half the test holds, to check remote encrypt/wrap locally."""
    private = rsa.generate_private_key(65537, 2048)
    numbers = private.private_numbers()
    parts = {
        "n": numbers.public_numbers.n,
        "e": numbers.public_numbers.e,
        "d": numbers.d,
        "p": numbers.p,
        "q": numbers.q,
    }
    jwk = JsonWebKey(
        kty="RSA-HSM", **{k: v.to_bytes((v.bit_length() + 7) // 8, "big") for k, v in parts.items()}
    )
    return private, user.keys.import_key(_name(), jwk)


def _aes_key(user, secret: bytes, ops=None):
    jwk = JsonWebKey(kty="oct-HSM", k=secret, key_ops=ops)
    return user.keys.import_key(_name(), jwk)


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "RSNULL"])
def test_rsa_signatures_verify_locally_and_remotely(alg, rsa_key, remote):
    value = digest(alg, b"message to sign")
    client = remote.crypto(rsa_key.id)

    signed = client.sign(alg, value)

    verify_locally(public_key(rsa_key.key), alg, value, signed.signature)
    assert signed.key_id == rsa_key.id
    assert client.verify(alg, value, signed.signature).is_valid is True


@pytest.mark.parametrize(
    ("alg", "curve"),
    [("ES256", "P-256"), ("ES256K", "P-256K"), ("ES384", "P-384"), ("ES512", "P-521")],
)
def test_ec_signatures_are_raw_r_s_and_verify_locally(alg, curve, ec_keys, remote):
    key = ec_keys[curve]
    value = digest(alg, b"message to sign")
    client = remote.crypto(key.id)

    signed = client.sign(alg, value)

    assert len(signed.signature) == 2 * len(key.key.x)
    verify_locally(public_key(key.key), alg, value, signed.signature)
    assert client.verify(alg, value, signed.signature).is_valid is True


def test_verify_of_a_tampered_signature_is_false(ec_keys, remote):
    key = ec_keys["P-256"]
    value = digest("ES256", b"original")
    client = remote.crypto(key.id)
    signature = bytearray(client.sign("ES256", value).signature)
    signature[5] ^= 0xFF

    assert client.verify("ES256", value, bytes(signature)).is_valid is False
    with pytest.raises(InvalidSignature):
        verify_locally(public_key(key.key), "ES256", value, bytes(signature))


@pytest.mark.parametrize(
    ("_case", "alg", "length"),
    [("rs256-short", "RS256", 31), ("es384-sha256", "ES384", 32), ("ps512-long", "PS512", 65)],
)
def test_sign_with_wrong_digest_length_is_bad_parameter(
    _case, alg, length, rsa_key, ec_keys, remote
):
    key = ec_keys["P-384"] if alg.startswith("ES") else rsa_key

    with pytest.raises(HttpResponseError) as raised:
        remote.crypto(key.id).sign(alg, os.urandom(length))

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")
    assert "Invalid digest length" in raised.value.message


@pytest.mark.parametrize(
    ("_case", "alg", "curve"),
    [
        ("es256-on-rsa", "ES256", None),
        ("rs256-on-ec", "RS256", "P-256"),
        ("es384-on-p256", "ES384", "P-256"),
    ],
)
def test_sign_with_algorithm_for_another_key_type_is_bad_parameter(
    _case, alg, curve, rsa_key, ec_keys, remote
):
    key = ec_keys[curve] if curve else rsa_key

    with pytest.raises(HttpResponseError) as raised:
        remote.crypto(key.id).sign(alg, digest(alg, b"x"))

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")


@pytest.mark.parametrize("alg", ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"])
def test_rsa_decrypt_opens_a_ciphertext_made_locally(alg, rsa_key, user):
    ciphertext = public_key(rsa_key.key).encrypt(b"secret payload", rsa_padding(alg))

    result = user.crypto(rsa_key.id).decrypt(alg, ciphertext)

    assert result.plaintext == b"secret payload"


@pytest.mark.parametrize("alg", ["RSA-OAEP", "RSA-OAEP-256", "RSA1_5"])
def test_rsa_remote_encrypt_and_wrap_open_with_the_local_private_key(alg, imported_rsa, remote):
    private, key = imported_rsa
    client = remote.crypto(key.id)

    encrypted = client.encrypt(alg, b"remote plaintext")
    wrapped = client.wrap_key(alg, b"k" * 32)

    assert private.decrypt(encrypted.ciphertext, rsa_padding(alg)) == b"remote plaintext"
    assert private.decrypt(wrapped.encrypted_key, rsa_padding(alg)) == b"k" * 32
    assert client.unwrap_key(alg, wrapped.encrypted_key).key == b"k" * 32


def test_rsa_decrypt_of_garbage_is_bad_parameter(rsa_key, user):
    with pytest.raises(HttpResponseError) as raised:
        user.crypto(rsa_key.id).decrypt("RSA-OAEP", b"\x01" * 256)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")


@pytest.mark.parametrize(("alg", "size"), [("A128GCM", 16), ("A192GCM", 24), ("A256GCM", 32)])
def test_aes_gcm_remote_encrypt_decrypts_locally_with_aad(alg, size, user, remote):
    secret = os.urandom(size)
    key = _aes_key(user, secret)
    client = remote.crypto(key.id)

    result = client.encrypt(alg, b"gcm plaintext", additional_authenticated_data=b"context")

    assert len(result.iv) == 12
    assert len(result.tag) == 16
    sealed = result.ciphertext + result.tag
    assert AESGCM(secret).decrypt(result.iv, sealed, b"context") == b"gcm plaintext"


def test_aes_gcm_remote_decrypt_opens_a_local_ciphertext(user, remote):
    secret = os.urandom(32)
    key = _aes_key(user, secret)
    nonce = os.urandom(12)
    sealed = AESGCM(secret).encrypt(nonce, b"made locally", b"aad")

    result = remote.crypto(key.id).decrypt(
        EncryptionAlgorithm.a256_gcm,
        sealed[:-16],
        iv=nonce,
        authentication_tag=sealed[-16:],
        additional_authenticated_data=b"aad",
    )

    assert result.plaintext == b"made locally"


def test_aes_gcm_decrypt_with_a_wrong_tag_is_bad_parameter(user, remote):
    key = _aes_key(user, os.urandom(32))
    client = remote.crypto(key.id)
    result = client.encrypt(EncryptionAlgorithm.a256_gcm, b"data")

    with pytest.raises(HttpResponseError) as raised:
        client.decrypt(
            EncryptionAlgorithm.a256_gcm,
            result.ciphertext,
            iv=result.iv,
            authentication_tag=bytes(16),
        )

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")


@pytest.mark.parametrize(("alg", "size"), [("A128CBC", 16), ("A192CBC", 24), ("A256CBC", 32)])
def test_aes_cbc_uses_the_caller_iv(alg, size, user, remote):
    secret, iv = os.urandom(size), os.urandom(16)
    key = _aes_key(user, secret)

    result = remote.crypto(key.id).encrypt(alg, b"0123456789abcdef" * 2, iv=iv)

    decryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).decryptor()
    assert decryptor.update(result.ciphertext) + decryptor.finalize() == b"0123456789abcdef" * 2
    assert remote.crypto(key.id).decrypt(alg, result.ciphertext, iv=iv).plaintext == (
        b"0123456789abcdef" * 2
    )


@pytest.mark.parametrize(
    ("alg", "size"), [("A128CBCPAD", 16), ("A192CBCPAD", 24), ("A256CBCPAD", 32)]
)
def test_aes_cbcpad_pads_with_pkcs7(alg, size, user, remote):
    secret, iv = os.urandom(size), os.urandom(16)
    key = _aes_key(user, secret)

    result = remote.crypto(key.id).encrypt(alg, b"odd length", iv=iv)

    decryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).decryptor()
    padded = decryptor.update(result.ciphertext) + decryptor.finalize()
    unpadder = symmetric_padding.PKCS7(128).unpadder()
    assert unpadder.update(padded) + unpadder.finalize() == b"odd length"


@pytest.mark.parametrize(
    ("alg", "size", "plaintext"),
    [
        ("A128CBC", 16, b"x"),
        ("A192CBC", 24, b"not 16 bytes"),
        ("A256CBC", 32, b"seventeen bytes!!"),
        ("A256CBC", 32, b"thirty-one bytes of plain text!"),
    ],
)
def test_aes_cbc_without_padding_zero_pads_the_last_block(alg, size, plaintext, user, remote):
    # given
    secret, iv = os.urandom(size), os.urandom(16)
    key = _aes_key(user, secret)
    zero_padded = plaintext + bytes(-len(plaintext) % 16)
    # when
    result = remote.crypto(key.id).encrypt(alg, plaintext, iv=iv)
    decrypted = remote.crypto(key.id).decrypt(alg, result.ciphertext, iv=iv).plaintext
    # then
    encryptor = Cipher(algorithms.AES(secret), modes.CBC(iv)).encryptor()
    assert result.ciphertext == encryptor.update(zero_padded) + encryptor.finalize()
    assert decrypted == zero_padded
    assert decrypted.rstrip(b"\0") == plaintext


def test_aes_cbc_decrypt_of_a_partial_block_is_bad_parameter(user, remote):
    key = _aes_key(user, os.urandom(32))

    with pytest.raises(HttpResponseError) as raised:
        remote.crypto(key.id).decrypt("A256CBC", b"not 16 bytes", iv=os.urandom(16))

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")


@pytest.mark.parametrize(
    ("alg", "size"),
    [
        (KeyWrapAlgorithm.aes_128, 16),
        (KeyWrapAlgorithm.aes_192, 24),
        (KeyWrapAlgorithm.aes_256, 32),
        (KeyWrapAlgorithm.ckm_aes_key_wrap, 32),
    ],
)
def test_aes_key_wrap_is_rfc3394(alg, size, user, remote):
    secret = os.urandom(size)
    key = _aes_key(user, secret)
    client = remote.crypto(key.id)

    wrapped = client.wrap_key(alg, b"K" * 24)

    assert aes_key_unwrap(secret, wrapped.encrypted_key) == b"K" * 24
    assert client.unwrap_key(alg, aes_key_wrap(secret, b"L" * 16)).key == b"L" * 16


def test_aes_key_wrap_pad_is_rfc5649(user, remote):
    secret = os.urandom(32)
    key = _aes_key(user, secret)

    wrapped = remote.crypto(key.id).wrap_key(KeyWrapAlgorithm.ckm_aes_key_wrap_pad, b"seven!!")

    assert aes_key_unwrap_with_padding(secret, wrapped.encrypted_key) == b"seven!!"


def test_aes_wrap_algorithm_must_match_key_size(user, remote):
    key = _aes_key(user, os.urandom(16))

    with pytest.raises(HttpResponseError) as raised:
        remote.crypto(key.id).wrap_key(KeyWrapAlgorithm.aes_256, b"K" * 32)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")


def test_operation_missing_from_key_ops_is_forbidden(user, remote):
    key = user.keys.create_ec_key(_name(), key_operations=["verify"])

    with pytest.raises(HttpResponseError) as raised:
        remote.crypto(key.id).sign("ES256", digest("ES256", b"x"))

    assert (raised.value.status_code, error_code(raised.value)) == (403, "Forbidden")
    assert inner_code(raised.value) == "KeyOperationForbidden"


def test_disabled_key_refuses_crypto_with_key_disabled(user, remote):
    key = user.keys.create_ec_key(_name())
    user.keys.update_key_properties(key.name, enabled=False)

    with pytest.raises(HttpResponseError) as raised:
        remote.crypto(key.id).sign("ES256", digest("ES256", b"x"))

    assert (raised.value.status_code, error_code(raised.value)) == (403, "Forbidden")
    assert inner_code(raised.value) == "KeyDisabled"


@pytest.mark.parametrize(
    ("_case", "window"),
    [
        ("expired", {"expires_on": datetime.datetime(2020, 1, 1, tzinfo=UTC)}),
        ("not-yet-valid", {"not_before": datetime.datetime(2099, 1, 1, tzinfo=UTC)}),
    ],
)
def test_key_outside_its_validity_window_refuses_crypto(_case, window, user, remote):
    key = user.keys.create_ec_key(_name(), **window)

    with pytest.raises(HttpResponseError) as raised:
        remote.crypto(key.id).sign("ES256", digest("ES256", b"x"))

    assert (raised.value.status_code, error_code(raised.value)) == (403, "Forbidden")
    assert inner_code(raised.value) == "KeyNotYetValidOrExpired"


def test_versionless_key_id_uses_the_latest_version(user, remote):
    key = user.keys.create_ec_key(_name())
    rotated = user.keys.rotate_key(key.name)
    versionless = f"{key.id.rsplit('/', 1)[0]}"

    signed = remote.crypto(versionless).sign("ES256", digest("ES256", b"latest"))

    assert signed.key_id == versionless
    verify_locally(public_key(rotated.key), "ES256", digest("ES256", b"latest"), signed.signature)
