"""The security domain documents: what a download returns and what an upload must carry.

Download (``value`` of the 202), a JSON document::

    {"EncData": {"kdf": "sp108_kdf",
                 "data": [{"tag": T, "compact_jwe": JWE(dir, A256CBC-HS512) under
                           sp800_108(master, label=T, 512 bits)}]},
     "SharedKeys": {"required": M,
                    "enc_shares": [{"x5t_256": x5t#S256 of certificate i,
                                    "enc_key": JWE(RSA-OAEP-256, A256CBC-HS512) of share i}]}}

``master`` is 32 random bytes split M-of-N (``shamir``); it exists nowhere once the download is
answered. Upload (``value`` of the POST), as ``az keyvault security-domain restore-blob`` makes
it: the same ``EncData`` (re-encrypted under any master key, or passed through) plus
``{"WrappedKey": {"x5t_256": the transfer key's thumbprint, "enc_key": JWE(RSA-OAEP-256) of that
master key}}``. The emulator's own datum (tag ``KEYS_TAG``) is the HSM's keys: every version's
material and attributes, as a per-key backup exports them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from hsm_emulator.codec import b64url_encode
from hsm_emulator.errors import bad_parameter
from hsm_emulator.securitydomain import jose, shamir
from hsm_emulator.securitydomain.transfer import TransferKey

KDF_NAME = "sp108_kdf"
KEYS_TAG = "hsm_emulator keys v1"
MIN_CERTIFICATES, MAX_CERTIFICATES = 3, 10
MIN_REQUIRED, MAX_REQUIRED = 2, 10
DEFAULT_REQUIRED = 2
MIN_RSA_BITS = 2048
MASTER_KEY_BYTES = 32
_JWK_REQUIRED = ("kid", "kty", "key_ops", "n", "e", "x5c", "x5t#S256", "alg")


@dataclass(frozen=True)
class Holder:
    """One certificate of a download: whose public key wraps one share."""

    public_key: rsa.RSAPublicKey
    alg: str
    thumbprint: str
    kid: str


def _unpadded(text: str) -> str:
    return text.rstrip("=")


def _b64url_int(text: Any, field: str) -> int:
    if not isinstance(text, str) or not text:
        raise bad_parameter(f"'{field}' must be a base64url string.")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error) as exc:
        raise bad_parameter(f"'{field}' is not valid base64url.") from exc
    return int.from_bytes(raw, "big")


def _holder(jwk: Any, index: int) -> Holder:
    where = f"certificates[{index}]"
    if not isinstance(jwk, dict):
        raise bad_parameter(f"'{where}' must be a JSON web key object.")
    missing = [name for name in _JWK_REQUIRED if jwk.get(name) in (None, "", [])]
    if missing:
        raise bad_parameter(f"'{where}' lacks the required field(s): {', '.join(missing)}.")
    if jwk["kty"] != "RSA":
        raise bad_parameter(f"'{where}.kty' must be RSA for a security domain.")
    if jwk["alg"] not in jose.OAEP_HASHES:
        raise bad_parameter(
            f"'{where}.alg' must be one of {', '.join(jose.OAEP_HASHES)}, not {jwk['alg']!r}."
        )
    if not isinstance(jwk["key_ops"], list) or not isinstance(jwk["x5c"], list):
        raise bad_parameter(f"'{where}.key_ops' and '{where}.x5c' must be arrays.")
    try:
        der = base64.b64decode(jwk["x5c"][0], validate=True)
        certificate = x509.load_der_x509_certificate(der)
    except (TypeError, ValueError, binascii.Error) as exc:
        raise bad_parameter(f"'{where}.x5c[0]' is not a base64 DER X.509 certificate.") from exc
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise bad_parameter(f"The certificate of '{where}' does not hold an RSA public key.")
    if public_key.key_size < MIN_RSA_BITS:
        raise bad_parameter(
            f"The RSA key of '{where}' has {public_key.key_size} bits; at least "
            f"{MIN_RSA_BITS} are required."
        )
    numbers = public_key.public_numbers()
    if (_b64url_int(jwk["n"], f"{where}.n"), _b64url_int(jwk["e"], f"{where}.e")) != (
        numbers.n,
        numbers.e,
    ):
        raise bad_parameter(f"'{where}.n'/'e' are not the public key of its certificate.")
    thumbprint = b64url_encode(hashlib.sha256(der).digest())
    if not isinstance(jwk["x5t#S256"], str) or _unpadded(jwk["x5t#S256"]) != thumbprint:
        raise bad_parameter(f"'{where}.x5t#S256' is not the SHA-256 thumbprint of its certificate.")
    return Holder(public_key, jwk["alg"], thumbprint, str(jwk["kid"]))


def parse_download_request(body: dict[str, Any]) -> tuple[list[Holder], int]:
    """The key holders and the quorum of a CertificateInfoObject; 400 BadParameter if invalid."""
    certificates = body.get("certificates")
    if not isinstance(certificates, list):
        raise bad_parameter("'certificates' (an array of 3 to 10 JSON web keys) is required.")
    if not MIN_CERTIFICATES <= len(certificates) <= MAX_CERTIFICATES:
        raise bad_parameter(
            f"A security domain needs {MIN_CERTIFICATES} to {MAX_CERTIFICATES} certificates; "
            f"{len(certificates)} were given."
        )
    required = body.get("required", DEFAULT_REQUIRED)
    if isinstance(required, bool) or not isinstance(required, int):
        raise bad_parameter("'required' (the quorum) must be an integer.")
    if not MIN_REQUIRED <= required <= min(MAX_REQUIRED, len(certificates)):
        raise bad_parameter(
            f"'required' (the quorum) must be between {MIN_REQUIRED} and the number of "
            f"certificates ({len(certificates)}); it was {required}."
        )
    holders = [_holder(jwk, index) for index, jwk in enumerate(certificates)]
    if len({holder.thumbprint for holder in holders}) != len(holders):
        raise bad_parameter("Each certificate may be given only once.")
    return holders, required


def build(holders: list[Holder], required: int, payload: bytes) -> str:
    """The downloaded security domain: ``payload`` under a fresh master key split to holders."""
    master = os.urandom(MASTER_KEY_BYTES)
    datum = jose.encrypt_dir(jose.sp800_108(master, KEYS_TAG), payload, kid=KEYS_TAG)
    shares = shamir.split(master, shares=len(holders), required=required)
    enc_shares = [
        {
            "enc_key": jose.encrypt_rsa(holder.public_key, share, alg=holder.alg, kid=holder.kid),
            "x5t_256": holder.thumbprint,
        }
        for holder, share in zip(holders, shares, strict=True)
    ]
    document = {
        "EncData": {"data": [{"compact_jwe": datum, "tag": KEYS_TAG}], "kdf": KDF_NAME},
        "SharedKeys": {"enc_shares": enc_shares, "required": required},
    }
    return json.dumps(document)


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_parameter(f"The security domain's '{field}' must be a JSON object.")
    return value


def open_upload(value: Any, transfer: TransferKey) -> bytes:
    """The emulator payload of an upload's security domain; 400 BadParameter when the blob is not
    wrapped to this HSM's transfer key, or its data does not decrypt under the wrapped key (the
    shares combined were fewer than the quorum, or not this security domain's)."""
    if not isinstance(value, str):
        raise bad_parameter("'value' (the security domain as a JSON string) is required.")
    try:
        document = json.loads(value)
    except ValueError as exc:
        raise bad_parameter("The security domain 'value' is not JSON.") from exc
    document = _object(document, "value")
    wrapped = _object(document.get("WrappedKey"), "WrappedKey")
    enc_data = _object(document.get("EncData"), "EncData")
    if enc_data.get("kdf") != KDF_NAME:
        raise bad_parameter(f"The security domain's 'EncData.kdf' must be '{KDF_NAME}'.")
    if _unpadded(str(wrapped.get("x5t_256", ""))) != transfer.thumbprint:
        raise bad_parameter(
            "The security domain is not wrapped to this HSM's transfer key "
            "(GET /securitydomain/upload gives it); 'WrappedKey.x5t_256' does not match."
        )
    try:
        master = jose.decrypt_rsa(transfer.private_key, wrapped.get("enc_key"))
    except jose.JweError as exc:
        raise bad_parameter(f"'WrappedKey.enc_key' does not unwrap: {exc}.") from exc
    data = enc_data.get("data")
    if not isinstance(data, list):
        raise bad_parameter("The security domain's 'EncData.data' must be an array.")
    payload = None
    for index, datum in enumerate(data):
        datum = _object(datum, f"EncData.data[{index}]")
        tag = datum.get("tag")
        if not isinstance(tag, str) or not tag:
            raise bad_parameter(f"'EncData.data[{index}].tag' must be a non-empty string.")
        try:
            plaintext = jose.decrypt_dir(jose.sp800_108(master, tag), datum.get("compact_jwe"))
        except jose.JweError as exc:
            raise bad_parameter(
                "The security domain does not decrypt with the key it was uploaded with: fewer "
                "shares than its quorum were combined, or shares of another security domain "
                f"({exc})."
            ) from exc
        if tag == KEYS_TAG:
            payload = plaintext
    if payload is None:
        raise bad_parameter(f"The security domain holds no '{KEYS_TAG}' data of this emulator.")
    return payload
