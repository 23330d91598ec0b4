"""Secure key release: a simplified policy evaluated against an unsigned attestation token."""

from __future__ import annotations

import base64
import json

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys import KeyReleasePolicy
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding
from emulator_helpers import b64url, error_code, inner_code, unb64url, unsigned_jwt

AUTHORITY = "https://attest.example.test"
POLICY = {
    "version": "1.0.0",
    "anyOf": [
        {
            "authority": AUTHORITY,
            "allOf": [
                {"claim": "x-ms-attestation-type", "equals": "sevsnpvm"},
                {"claim": "x-ms-runtime.vm-configuration.secure-boot", "equals": True},
            ],
        }
    ],
}
RUNTIME_KEY = rsa.generate_private_key(65537, 2048)


def _target(**overrides) -> str:
    numbers = RUNTIME_KEY.public_key().public_numbers()
    claims = {
        "iss": AUTHORITY,
        "x-ms-attestation-type": "sevsnpvm",
        "x-ms-runtime": {
            "vm-configuration": {"secure-boot": True},
            "keys": [
                {
                    "kid": "runtime",
                    "kty": "RSA",
                    "n": b64url(numbers.n.to_bytes(256, "big")),
                    "e": b64url(numbers.e.to_bytes(3, "big")),
                }
            ],
        },
    }
    claims.update(overrides)
    return unsigned_jwt(claims)


@pytest.fixture
def exportable(user, key_name):
    policy = KeyReleasePolicy(json.dumps(POLICY).encode())
    return user.keys.create_rsa_key(key_name, size=2048, exportable=True, release_policy=policy)


def _verified_payload(jws: str) -> dict:
    header_b64, payload_b64, signature_b64 = jws.split(".")
    header = json.loads(unb64url(header_b64))
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    signature = unb64url(signature_b64)
    der = utils.encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    leaf.public_key().verify(der, f"{header_b64}.{payload_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    assert header["alg"] == "ES256"
    return json.loads(unb64url(payload_b64))


def test_release_wraps_the_private_key_to_the_attested_runtime_key(exportable, user):
    result = user.keys.release_key(exportable.name, _target(), nonce="n-1")

    payload = _verified_payload(result.value)
    released = payload["response"]["key"]["key"]
    envelope = json.loads(unb64url(released["key_hsm"]))
    wrapped = unb64url(envelope["ciphertext"])
    oaep = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)  # noqa: S303
    transport = RUNTIME_KEY.decrypt(wrapped[:256], oaep)
    private = serialization.load_der_private_key(
        aes_key_unwrap_with_padding(transport, wrapped[256:]), password=None
    )
    assert private.public_key().public_numbers().n == int.from_bytes(exportable.key.n, "big")
    assert payload["request"]["nonce"] == "n-1"
    assert released["kid"] == exportable.id


@pytest.mark.parametrize(
    ("_case", "overrides"),
    [
        ("wrong-claim", {"x-ms-attestation-type": "sgx"}),
        ("wrong-authority", {"iss": "https://evil.example.test"}),
        ("missing-nested-claim", {"x-ms-runtime": {"keys": []}}),
    ],
)
def test_release_is_refused_when_the_policy_is_not_met(_case, overrides, exportable, user):
    with pytest.raises(HttpResponseError) as raised:
        user.keys.release_key(exportable.name, _target(**overrides))

    assert (raised.value.status_code, error_code(raised.value)) == (403, "Forbidden")
    assert inner_code(raised.value) == "ReleasePolicyNotSatisfied"


def test_release_of_a_non_exportable_key_is_refused(user, key_name):
    key = user.keys.create_rsa_key(key_name, size=2048)

    with pytest.raises(HttpResponseError) as raised:
        user.keys.release_key(key.name, _target())

    assert (raised.value.status_code, inner_code(raised.value)) == (403, "KeyNotExportable")


def test_release_target_must_be_a_token(exportable, user):
    with pytest.raises(HttpResponseError) as raised:
        user.keys.release_key(exportable.name, "not-a-token")

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")
