"""The JOSE pieces of the security domain format, as Microsoft's tooling writes and reads them.

* Compact JWE with ``enc`` A256CBC-HS512 (RFC 7518 §5.2.5: a 64-byte key, the first half for
  HMAC-SHA512 over header || IV || ciphertext || AAD length, the second for AES-256-CBC).
* ``alg`` RSA-OAEP-256 or RSA-OAEP wraps a random content key to a certificate's public key
  (the shares, and the upload's wrapped key); ``alg`` dir uses a derived key directly (the data).
* The data keys come from SP 800-108 in counter mode with HMAC-SHA512:
  ``K = HMAC(master, [1]₃₂ || label || 0x00 || context || [bits]₃₂)``.

Every failure to parse or decrypt raises JweError; callers turn it into the service's error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as block_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from hsm_emulator.codec import b64url_encode

ENC = "A256CBC-HS512"
OAEP_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RSA-OAEP-256": hashes.SHA256,
    "RSA-OAEP": hashes.SHA1,
}
_CEK_BYTES = 64
_IV_BYTES = 16
_TAG_BYTES = 32


class JweError(ValueError):
    """A JWE that is malformed, uses another algorithm, or fails its authentication tag."""


def sp800_108(key: bytes, label: str, context: str = "", bits: int = 512) -> bytes:
    """SP 800-108 counter-mode KDF with HMAC-SHA512 (``bits`` a positive multiple of 8)."""
    if bits <= 0 or bits % 8:
        raise ValueError("the derived key length must be a positive number of bytes")
    suffix = label.encode() + b"\x00" + context.encode() + bits.to_bytes(4, "big")
    output = b""
    counter = 1
    while len(output) < bits // 8:
        output += hmac.new(key, counter.to_bytes(4, "big") + suffix, hashlib.sha512).digest()
        counter += 1
    return output[: bits // 8]


def _oaep(alg: str) -> padding.OAEP:
    hash_type = OAEP_HASHES.get(alg)
    if hash_type is None:
        raise JweError(f"unsupported key wrapping algorithm {alg!r}")
    return padding.OAEP(mgf=padding.MGF1(hash_type()), algorithm=hash_type(), label=None)


def _b64decode(text: str, part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise JweError(f"the JWE {part} is not base64url") from exc


def _tag(mac_key: bytes, aad: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    length = (len(aad) * 8).to_bytes(8, "big")
    return hmac.new(mac_key, aad + iv + ciphertext + length, hashlib.sha512).digest()[:_TAG_BYTES]


def _encrypt(cek: bytes, header: dict[str, Any], encrypted_key: bytes, plaintext: bytes) -> str:
    encoded_header = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    padder = block_padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    iv = os.urandom(_IV_BYTES)
    encryptor = Cipher(algorithms.AES(cek[32:]), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    tag = _tag(cek[:32], encoded_header.encode("ascii"), iv, ciphertext)
    parts = (encrypted_key, iv, ciphertext, tag)
    return ".".join([encoded_header, *(b64url_encode(part) for part in parts)])


def parse(compact: Any) -> tuple[dict[str, Any], str, list[bytes]]:
    """(protected header, its encoded form, [encrypted key, IV, ciphertext, tag])."""
    if not isinstance(compact, str) or compact.count(".") != 4:
        raise JweError("a compact JWE has five dot-separated parts")
    encoded_header, *rest = compact.split(".")
    try:
        header = json.loads(_b64decode(encoded_header, "header"))
    except ValueError as exc:
        raise JweError("the JWE header is not JSON") from exc
    if not isinstance(header, dict):
        raise JweError("the JWE header is not a JSON object")
    if header.get("enc") != ENC:
        raise JweError(f"unsupported content encryption {header.get('enc')!r} (need {ENC})")
    names = ("key", "iv", "data", "tag")
    parts = [_b64decode(part, name) for part, name in zip(rest, names, strict=True)]
    if len(parts[1]) != _IV_BYTES or len(parts[3]) != _TAG_BYTES:
        raise JweError("the JWE IV or authentication tag has the wrong length")
    return header, encoded_header, parts


def _decrypt(cek: bytes, encoded_header: str, iv: bytes, ciphertext: bytes, tag: bytes) -> bytes:
    if len(cek) != _CEK_BYTES:
        raise JweError("the content key is not 64 bytes")
    expected = _tag(cek[:32], encoded_header.encode("ascii"), iv, ciphertext)
    if not hmac.compare_digest(expected, tag):
        raise JweError("the JWE authentication tag does not match")
    try:
        decryptor = Cipher(algorithms.AES(cek[32:]), modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = block_padding.PKCS7(128).unpadder()
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError as exc:
        raise JweError("the JWE ciphertext is malformed") from exc


def encrypt_dir(key: bytes, plaintext: bytes, *, kid: str) -> str:
    """A compact JWE (alg dir) under a 64-byte key."""
    return _encrypt(key, {"alg": "dir", "enc": ENC, "kid": kid}, b"", plaintext)


def decrypt_dir(key: bytes, compact: Any) -> bytes:
    """The plaintext of a dir JWE; JweError when it is not one or the key is not its key."""
    header, encoded_header, (encrypted_key, iv, ciphertext, tag) = parse(compact)
    if header.get("alg") != "dir" or encrypted_key:
        raise JweError("the data JWE must use alg 'dir'")
    return _decrypt(key, encoded_header, iv, ciphertext, tag)


def encrypt_rsa(
    public_key: rsa.RSAPublicKey, plaintext: bytes, *, alg: str, kid: str | None = None
) -> str:
    """A compact JWE whose random content key is RSA-OAEP(-256) wrapped to ``public_key``."""
    cek = os.urandom(_CEK_BYTES)
    header: dict[str, Any] = {"alg": alg, "enc": ENC}
    if kid is not None:
        header["kid"] = kid
    return _encrypt(cek, header, public_key.encrypt(cek, _oaep(alg)), plaintext)


def decrypt_rsa(private_key: rsa.RSAPrivateKey, compact: Any) -> bytes:
    """The plaintext of an RSA-OAEP(-256) JWE; JweError when ``private_key`` is not its key."""
    header, encoded_header, (encrypted_key, iv, ciphertext, tag) = parse(compact)
    try:
        cek = private_key.decrypt(encrypted_key, _oaep(str(header.get("alg"))))
    except ValueError as exc:
        raise JweError("the JWE content key does not unwrap with this private key") from exc
    return _decrypt(cek, encoded_header, iv, ciphertext, tag)
