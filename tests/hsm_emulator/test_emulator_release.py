"""Secure key release: the target token must be signed by a trusted attestation authority and
unexpired; then a simplified policy is evaluated against its claims."""

from __future__ import annotations

import base64
import json
import time

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys import KeyReleasePolicy
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap_with_padding
from emulator_helpers import b64url, error_code, inner_code, unb64url, unsigned_jwt

from hsm_emulator.client.attestation import LocalAttestationAuthority

AUTHORITY = "https://attest.example.test"
TRUSTED = LocalAttestationAuthority(AUTHORITY)
IMPOSTOR = LocalAttestationAuthority(AUTHORITY)  # same issuer name, a key the HSM never trusted
OTHER_TRUSTED = LocalAttestationAuthority("https://evil.example.test")  # trusted, not the policy's
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


def _claims(**overrides) -> dict:
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
    return claims


def _target(**overrides) -> str:
    return TRUSTED.issue(_claims(**overrides))


def _trust_test_authorities(hsm) -> None:
    hsm.set_attestation_authorities(
        [{"issuer": a.issuer, "jwks": a.jwks()} for a in (TRUSTED, OTHER_TRUSTED)]
    )


@pytest.fixture(scope="module", autouse=True)
def trusted_authorities(hsm):
    _trust_test_authorities(hsm)


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
    ("_case", "token"),
    [
        ("wrong-claim", lambda: _target(**{"x-ms-attestation-type": "sgx"})),
        ("wrong-authority", lambda: OTHER_TRUSTED.issue(_claims(iss=OTHER_TRUSTED.issuer))),
        ("missing-nested-claim", lambda: _target(**{"x-ms-runtime": {"keys": []}})),
    ],
)
def test_release_is_refused_when_the_policy_is_not_met(_case, token, exportable, user):
    with pytest.raises(HttpResponseError) as raised:
        user.keys.release_key(exportable.name, token())

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


def _refusal(raised) -> tuple[int, str, str]:
    error = raised.value.response.json()["error"]
    return raised.value.status_code, error["code"], error["message"]


@pytest.mark.parametrize(
    ("_case", "token", "reason"),
    [
        ("unsigned", lambda: unsigned_jwt(_claims()), "the token is not signed"),
        (
            "signed by another key",
            lambda: IMPOSTOR.issue(_claims()),
            f"the signature does not verify with a key of {AUTHORITY}",
        ),
        (
            "expired",
            lambda: TRUSTED.issue(_claims(), now=time.time() - 3600, lifetime_seconds=600),
            "the token has expired",
        ),
        (
            "untrusted issuer",
            lambda: LocalAttestationAuthority("https://other.example.test").issue(
                _claims(iss="https://other.example.test")
            ),
            "the issuer 'https://other.example.test' is not a trusted attestation authority",
        ),
        (
            "payload changed after signing",
            lambda: _tampered(TRUSTED.issue(_claims(**{"x-ms-attestation-type": "sgx"}))),
            f"the signature does not verify with a key of {AUTHORITY}",
        ),
    ],
)
def test_release_is_refused_for_a_token_the_authority_did_not_sign(
    _case, token, reason, exportable, user, hsm
):
    # given
    seq = hsm.latest_seq()
    # when
    with pytest.raises(HttpResponseError) as raised:
        user.keys.release_key(exportable.name, token())
    # then
    assert _refusal(raised) == (
        400,
        "BadParameter",
        f"Target environment attestation statement cannot be verified: {reason}.",
    )
    assert [r["status"] for r in hsm.requests_since(seq) if r["principal"]] == [400]


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(unb64url(payload))
    claims["x-ms-attestation-type"] = "sevsnpvm"
    return f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"


def test_a_token_of_an_authority_no_longer_trusted_is_refused(exportable, user, hsm):
    # given
    token = _target()
    hsm.set_attestation_authorities([])
    # when
    try:
        with pytest.raises(HttpResponseError) as raised:
            user.keys.release_key(exportable.name, token)
    finally:
        _trust_test_authorities(hsm)
    # then
    assert _refusal(raised)[:2] == (400, "BadParameter")
    assert user.keys.release_key(exportable.name, token).value.count(".") == 2


def test_trusted_authorities_are_listed_with_their_public_keys(hsm):
    listed = hsm.attestation_authorities()

    assert listed == [
        {"issuer": AUTHORITY, "jwks": TRUSTED.jwks()},
        {"issuer": OTHER_TRUSTED.issuer, "jwks": OTHER_TRUSTED.jwks()},
    ]
    assert "d" not in listed[0]["jwks"]["keys"][0]
