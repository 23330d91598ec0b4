"""BYOK transfer blobs (CKM_RSA_AES_KEY_WRAP) for import, and the same wrapping for release.

A blob is RSA-OAEP(ephemeral AES key) under the Key Exchange Key, followed by the target key
wrapped with AES-KWP (RFC 5649): PKCS#8 DER for RSA/EC, raw bytes for oct. It usually travels in a
JSON envelope (``schema_version``, ``header`` {kid, alg "dir", enc}, ``ciphertext``,
``generator``); a bare blob is accepted too.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap_with_padding,
)

from hsm_emulator.codec import b64url_decode, b64url_encode
from hsm_emulator.crypto import KeyMaterial, material_from_oct, material_from_private_key
from hsm_emulator.errors import ApiError, bad_parameter

DEFAULT_ENC = "CKM_RSA_AES_KEY_WRAP"
_OAEP_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "CKM_RSA_AES_KEY_WRAP": hashes.SHA1,
    "RSA_AES_KEY_WRAP_256": hashes.SHA256,
    "RSA_AES_KEY_WRAP_384": hashes.SHA384,
}


def _oaep(enc: str) -> padding.OAEP:
    hash_type = _OAEP_HASHES.get(enc)
    if hash_type is None:
        raise bad_parameter(f"Unsupported key transfer algorithm (enc): {enc}")
    return padding.OAEP(mgf=padding.MGF1(hash_type()), algorithm=hash_type(), label=None)


def parse_envelope(raw: bytes) -> tuple[str | None, str, bytes]:
    """(KEK kid or None, enc, wrapped bytes) from an enveloped or a bare transfer blob."""
    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, DEFAULT_ENC, raw
    if not isinstance(document, dict) or not isinstance(document.get("ciphertext"), str):
        raise bad_parameter("The BYOK transfer blob envelope has no 'ciphertext'.")
    header = document.get("header") if isinstance(document.get("header"), dict) else {}
    enc = header.get("enc") or DEFAULT_ENC
    kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    return kid, enc, b64url_decode(document["ciphertext"], field="key_hsm.ciphertext")


def unwrap(kek: rsa.RSAPrivateKey, wrapped: bytes, enc: str) -> bytes:
    """The target key bytes; any integrity or length failure is 400 BadParameter."""
    size = kek.key_size // 8
    if len(wrapped) <= size:
        raise bad_parameter("The BYOK transfer blob is too short for this Key Exchange Key.")
    try:
        transport_key = kek.decrypt(wrapped[:size], _oaep(enc))
        return aes_key_unwrap_with_padding(transport_key, wrapped[size:])
    except ApiError:
        raise
    except (ValueError, InvalidUnwrap) as exc:
        raise bad_parameter(
            "The BYOK transfer blob could not be unwrapped with the Key Exchange Key."
        ) from exc


def der_without_zero_padding(plaintext: bytes) -> bytes:
    """`plaintext` cut at the end of its outer DER SEQUENCE when only up to 7 zero bytes follow:
    SoftHSM 2.6 zero-pads a private key's PKCS#8 to a multiple of 8 bytes before AES-KWP, so
    the RFC 5649 length covers the zeros; the DER's own length says where the key ends."""
    if len(plaintext) < 2 or plaintext[0] != 0x30:
        return plaintext
    width = plaintext[1] & 0x7F if plaintext[1] & 0x80 else 0  # long form: bytes of length
    if not 0 <= width <= 4 or len(plaintext) < 2 + width:
        return plaintext
    length = int.from_bytes(plaintext[2 : 2 + width], "big") if width else plaintext[1]
    end = 2 + width + length
    rest = plaintext[end:]
    return plaintext[:end] if 0 < len(rest) < 8 and not any(rest) else plaintext


def target_material(family: str, plaintext: bytes) -> KeyMaterial:
    """Parse the unwrapped target: PKCS#8 DER for RSA/EC, raw AES bytes for oct."""
    if family == "oct":
        return material_from_oct(plaintext)
    try:
        key = serialization.load_der_private_key(der_without_zero_padding(plaintext), password=None)
    except (ValueError, TypeError) as exc:
        raise bad_parameter("The unwrapped BYOK key is not a PKCS#8 private key.") from exc
    material = material_from_private_key(key)
    if material.family != family:
        raise bad_parameter(f"The unwrapped key is {material.family}, but kty says {family}.")
    return material


def wrap(public_key: rsa.RSAPublicKey, plaintext: bytes, enc: str = DEFAULT_ENC) -> bytes:
    """RSA-OAEP(ephemeral AES-256 key) || AES-KWP(plaintext) — the inverse of ``unwrap``."""
    transport_key = os.urandom(32)
    return public_key.encrypt(transport_key, _oaep(enc)) + aes_key_wrap_with_padding(
        transport_key, plaintext
    )


def envelope(kid: str, wrapped: bytes, enc: str = DEFAULT_ENC) -> dict[str, Any]:
    """The JSON envelope the BYOK tools produce around a transfer blob."""
    return {
        "schema_version": "1.0.0",
        "header": {"kid": kid, "alg": "dir", "enc": enc},
        "ciphertext": b64url_encode(wrapped),
        "generator": "hsm_emulator",
    }
