"""Real cryptography for HSM keys: generation, sign/verify, encrypt/decrypt, wrap/unwrap.

Private material is handled as PKCS#8 DER (RSA, EC) or raw bytes (oct); it never leaves this
module except sealed by the store. Every failure is a 400 BadParameter, as the service answers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils
from cryptography.hazmat.primitives.asymmetric import padding as asym
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_unwrap_with_padding,
    aes_key_wrap,
    aes_key_wrap_with_padding,
)

from hsm_emulator.errors import bad_parameter
from hsm_emulator.jwk import CURVE_BY_OPENSSL_NAME, CURVES, coordinate_size, public_fields
from hsm_emulator.primes import generate_rsa_private_key

RSA_SIZES = (2048, 3072, 4096)
OCT_SIZES = (128, 192, 256)
_HASHES = {256: hashes.SHA256, 384: hashes.SHA384, 512: hashes.SHA512}
# alg → (family, hash bits or None, curve for EC)
SIGN_ALGORITHMS: dict[str, tuple[str, int | None, str | None]] = {
    **{f"RS{bits}": ("RSA", bits, None) for bits in _HASHES},
    **{f"PS{bits}": ("RSA", bits, None) for bits in _HASHES},
    "RSNULL": ("RSA", None, None),
    "ES256": ("EC", 256, "P-256"),
    "ES256K": ("EC", 256, "P-256K"),
    "ES384": ("EC", 384, "P-384"),
    "ES512": ("EC", 512, "P-521"),
}
RSA_ENCRYPTION = ("RSA-OAEP", "RSA-OAEP-256", "RSA1_5")
AES_ENCRYPTION = tuple(f"A{bits}{mode}" for bits in OCT_SIZES for mode in ("GCM", "CBC", "CBCPAD"))
# The service takes any odd public exponent from 3 up; beyond 2**256 - 1 is refused here (a bound
# of the emulator: the reference names none).
MAX_PUBLIC_EXPONENT = 2**256 - 1
AES_BLOCK_BYTES = 16
AES_WRAP = (*(f"A{bits}KW" for bits in OCT_SIZES), "CKM_AES_KEY_WRAP", "CKM_AES_KEY_WRAP_PAD")


@dataclass(frozen=True)
class KeyMaterial:
    """A freshly generated or imported key: sealed-to-be secret plus its public description."""

    family: str
    secret: bytes
    key_size: int | None
    crv: str | None
    public: dict[str, str]


def _pkcs8(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def material_from_private_key(key: Any) -> KeyMaterial:
    """Describe an RSA or EC private key object as KeyMaterial; other key types are refused."""
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size not in RSA_SIZES:
            raise bad_parameter(f"Invalid RSA key size {key.key_size}; use 2048, 3072 or 4096.")
        return KeyMaterial("RSA", _pkcs8(key), key.key_size, None, public_fields(key.public_key()))
    if isinstance(key, ec.EllipticCurvePrivateKey):
        curve = CURVE_BY_OPENSSL_NAME.get(key.curve.name)
        if curve is None:
            raise bad_parameter(f"Unsupported curve {key.curve.name}.", inner="CurveNotSupported")
        return KeyMaterial("EC", _pkcs8(key), None, curve, public_fields(key.public_key()))
    raise bad_parameter("The wrapped key is neither an RSA nor an EC private key.")


def material_from_oct(secret: bytes) -> KeyMaterial:
    """Describe raw AES key bytes as KeyMaterial (oct keys have no public part)."""
    if len(secret) * 8 not in OCT_SIZES:
        raise bad_parameter(f"Invalid oct key size: {len(secret) * 8} bits.")
    return KeyMaterial("oct", secret, len(secret) * 8, None, {})


def generate(
    family: str, *, key_size: int | None, crv: str | None, public_exponent: int | None
) -> KeyMaterial:
    """Generate key material; sizes, curves and exponents outside the service's set are 400."""
    if family == "RSA":
        size = key_size or 2048
        exponent = 65537 if public_exponent is None else public_exponent
        if size not in RSA_SIZES:
            raise bad_parameter(f"Invalid key_size {size} for RSA; use 2048, 3072 or 4096.")
        if exponent < 3 or exponent % 2 == 0 or exponent > MAX_PUBLIC_EXPONENT:
            raise bad_parameter(
                f"Invalid public_exponent {exponent}; it must be an odd number of at least 3."
            )
        return material_from_private_key(generate_rsa_private_key(exponent, size))
    if family == "EC":
        curve = crv or "P-256"
        if curve not in CURVES:
            raise bad_parameter(f"Invalid curve name: {curve}", inner="CurveNotSupported")
        return material_from_private_key(ec.generate_private_key(CURVES[curve]))
    size = key_size or 256
    if size not in OCT_SIZES:
        raise bad_parameter(f"Invalid key_size {size} for oct; use 128, 192 or 256.")
    return material_from_oct(os.urandom(size // 8))


def _hash_for(bits: int | None) -> hashes.HashAlgorithm:
    return _HASHES[bits or 256]()


def _check_digest(alg: str, bits: int | None, digest: bytes) -> None:
    if bits is not None and len(digest) != bits // 8:
        raise bad_parameter(
            f"Invalid digest length {len(digest)} for algorithm {alg}; expected {bits // 8} bytes."
        )


def _rsa_encryption_padding(alg: str) -> asym.AsymmetricPadding:
    if alg == "RSA1_5":
        return asym.PKCS1v15()
    algorithm = hashes.SHA256() if alg == "RSA-OAEP-256" else hashes.SHA1()  # noqa: S303
    return asym.OAEP(mgf=asym.MGF1(algorithm), algorithm=algorithm, label=None)


class LoadedKey:
    """One key version's private material, loaded once and reused for every operation."""

    def __init__(self, family: str, secret: bytes, crv: str | None) -> None:
        self.family, self.crv = family, crv
        self._secret = secret
        self._private: Any = None
        if family != "oct":
            # The store only holds material this module produced or validated at import.
            self._private = serialization.load_der_private_key(
                secret, password=None, unsafe_skip_rsa_key_validation=True
            )

    def _signing_algorithm(self, alg: str) -> tuple[int | None, str | None]:
        spec = SIGN_ALGORITHMS.get(alg)
        if spec is None or spec[0] != self.family:
            raise bad_parameter(f"Algorithm {alg} is not supported for this key type.")
        if spec[2] is not None and spec[2] != self.crv:
            raise bad_parameter(f"Algorithm {alg} requires curve {spec[2]}; the key is {self.crv}.")
        return spec[1], spec[2]

    def sign(self, alg: str, digest: bytes) -> bytes:
        """Sign a digest; EC signatures are raw r||s as JOSE requires."""
        bits, _ = self._signing_algorithm(alg)
        _check_digest(alg, bits, digest)
        if self.family == "EC":
            der = self._private.sign(digest, ec.ECDSA(utils.Prehashed(_hash_for(bits))))
            r, s = utils.decode_dss_signature(der)
            size = coordinate_size(self.crv or "P-256")
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        try:
            return self._private.sign(digest, *self._rsa_signature_scheme(alg, bits))
        except ValueError as exc:
            raise bad_parameter(f"Cannot sign with {alg}: {exc}") from exc

    def _rsa_signature_scheme(self, alg: str, bits: int | None) -> tuple[Any, Any]:
        if alg == "RSNULL":
            return asym.PKCS1v15(), utils.NoDigestInfo()
        prehashed = utils.Prehashed(_hash_for(bits))
        if alg.startswith("PS"):
            mgf = asym.MGF1(_hash_for(bits))
            return asym.PSS(mgf=mgf, salt_length=(bits or 256) // 8), prehashed
        return asym.PKCS1v15(), prehashed

    def verify(self, alg: str, digest: bytes, signature: bytes) -> bool:
        """True when ``signature`` is valid for ``digest``; a malformed signature is just False."""
        bits, _ = self._signing_algorithm(alg)
        _check_digest(alg, bits, digest)
        public = self._private.public_key()
        try:
            if self.family == "EC":
                size = coordinate_size(self.crv or "P-256")
                if len(signature) != 2 * size:
                    return False
                r = int.from_bytes(signature[:size], "big")
                s = int.from_bytes(signature[size:], "big")
                der = utils.encode_dss_signature(r, s)
                public.verify(der, digest, ec.ECDSA(utils.Prehashed(_hash_for(bits))))
            else:
                public.verify(signature, digest, *self._rsa_signature_scheme(alg, bits))
        except (InvalidSignature, ValueError):
            return False
        return True

    def _aes_key_for(self, alg: str) -> bytes:
        if self.family != "oct":
            raise bad_parameter(f"Algorithm {alg} is not supported for this key type.")
        if alg.startswith("A") and alg[1:4].isdigit() and int(alg[1:4]) != len(self._secret) * 8:
            bits = len(self._secret) * 8
            raise bad_parameter(f"Algorithm {alg} does not match the {bits}-bit key.")
        return self._secret

    def encrypt(
        self, alg: str, plaintext: bytes, iv: bytes | None, aad: bytes | None
    ) -> dict[str, bytes]:
        """Encrypt one block; GCM returns a server-generated 12-byte iv and a 16-byte tag."""
        if alg in RSA_ENCRYPTION and self.family == "RSA":
            scheme = _rsa_encryption_padding(alg)
            try:
                return {"value": self._private.public_key().encrypt(plaintext, scheme)}
            except ValueError as exc:
                raise bad_parameter(f"Cannot encrypt with {alg}: {exc}") from exc
        if alg not in AES_ENCRYPTION:
            raise bad_parameter(f"Algorithm {alg} is not supported for encrypt on this key type.")
        key = self._aes_key_for(alg)
        if alg.endswith("GCM"):
            nonce = os.urandom(12)
            sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
            result = {"value": sealed[:-16], "iv": nonce, "tag": sealed[-16:]}
            return {**result, "aad": aad} if aad else result
        return {"value": _cbc(key, alg, _require_iv(iv), plaintext, encrypt=True), "iv": iv or b""}

    def decrypt(
        self, alg: str, ciphertext: bytes, iv: bytes | None, tag: bytes | None, aad: bytes | None
    ) -> bytes:
        """Decrypt one block; a wrong key, tag or padding is 400 BadParameter."""
        if alg in RSA_ENCRYPTION and self.family == "RSA":
            return self._rsa_decrypt(alg, ciphertext)
        if alg not in AES_ENCRYPTION:
            raise bad_parameter(f"Algorithm {alg} is not supported for decrypt on this key type.")
        key = self._aes_key_for(alg)
        if alg.endswith("GCM"):
            if not iv or not tag or len(tag) != 16:
                raise bad_parameter(f"{alg} decryption needs the iv and the 16-byte tag.")
            try:
                return AESGCM(key).decrypt(iv, ciphertext + tag, aad)
            except (InvalidTag, ValueError) as exc:
                raise bad_parameter("Decryption failed: invalid authentication tag.") from exc
        return _cbc(key, alg, _require_iv(iv), ciphertext, encrypt=False)

    def _rsa_decrypt(self, alg: str, ciphertext: bytes) -> bytes:
        try:
            return self._private.decrypt(ciphertext, _rsa_encryption_padding(alg))
        except ValueError as exc:
            raise bad_parameter(f"Decryption with {alg} failed.") from exc

    def wrap(self, alg: str, key_bytes: bytes) -> bytes:
        """wrapKey: RSA encryption algorithms for RSA keys, AES key wrap for oct keys."""
        if alg in RSA_ENCRYPTION and self.family == "RSA":
            return self.encrypt(alg, key_bytes, None, None)["value"]
        if alg not in AES_WRAP:
            raise bad_parameter(f"Algorithm {alg} is not supported for wrapKey on this key type.")
        key = self._aes_key_for(alg)
        try:
            if alg == "CKM_AES_KEY_WRAP_PAD":
                return aes_key_wrap_with_padding(key, key_bytes)
            return aes_key_wrap(key, key_bytes)
        except ValueError as exc:
            raise bad_parameter(f"Cannot wrap with {alg}: {exc}") from exc

    def unwrap(self, alg: str, wrapped: bytes) -> bytes:
        """unwrapKey, the inverse of ``wrap``; an integrity failure is 400 BadParameter."""
        if alg in RSA_ENCRYPTION and self.family == "RSA":
            return self._rsa_decrypt(alg, wrapped)
        if alg not in AES_WRAP:
            raise bad_parameter(f"Algorithm {alg} is not supported for unwrapKey on this key type.")
        key = self._aes_key_for(alg)
        try:
            if alg == "CKM_AES_KEY_WRAP_PAD":
                return aes_key_unwrap_with_padding(key, wrapped)
            return aes_key_unwrap(key, wrapped)
        except (InvalidUnwrap, ValueError) as exc:
            raise bad_parameter(f"Unwrap with {alg} failed: the wrapped key is invalid.") from exc

    def rsa_private_key(self) -> rsa.RSAPrivateKey:
        """The RSA private key object (BYOK uses the KEK's)."""
        if self.family != "RSA":
            raise bad_parameter("The key is not an RSA key.")
        return self._private

    def private_key_object(self) -> Any:
        """The private key object (RSA/EC) or raw bytes (oct), for release and attestation."""
        return self._secret if self.family == "oct" else self._private


def _require_iv(iv: bytes | None) -> bytes:
    if iv is None or len(iv) != 16:
        raise bad_parameter("AES-CBC needs a 16-byte iv.")
    return iv


def _cbc(key: bytes, alg: str, iv: bytes, data: bytes, *, encrypt: bool) -> bytes:
    """CBCPAD pads with PKCS#7; plain CBC zero-pads the last block of the plaintext, as the
    service does (decrypt then returns whole blocks, the zeros included)."""
    pad = alg.endswith("CBCPAD")
    cipher = Cipher(algorithms.AES(key), modes.CBC(iv))
    try:
        if encrypt:
            if pad:
                padder = padding.PKCS7(128).padder()
                data = padder.update(data) + padder.finalize()
            else:
                data += bytes(-len(data) % AES_BLOCK_BYTES)
            encryptor = cipher.encryptor()
            return encryptor.update(data) + encryptor.finalize()
        decryptor = cipher.decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        if pad:
            unpadder = padding.PKCS7(128).unpadder()
            plain = unpadder.update(plain) + unpadder.finalize()
        return plain
    except ValueError as exc:
        raise bad_parameter(f"{alg}: {exc}") from exc
