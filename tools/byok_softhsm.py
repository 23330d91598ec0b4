"""Play the on-premises HSM for BYOK with a PKCS#11 token (SoftHSM2 here; any PKCS#11 HSM the
same way), as the portal's BYOK page describes:

    softhsm2-util --init-token --free --label onprem --so-pin 5678 --pin 1234
    .venv/bin/python tools/byok_softhsm.py generate --token onprem --pin 1234 \\
        --key-label app-signing --size 3072
    .venv/bin/python tools/byok_softhsm.py wrap --token onprem --pin 1234 \\
        --key-label app-signing --kek pay-kek.pem --out app-signing.byok

`--kek` is the key-exchange key's PEM as the portal downloads it (its first line, `kid: …`,
names the KEK version the file is wrapped to). Inside the token: the KEK's public key and an
ephemeral AES-256 key are session objects; the AES key is wrapped with RSA-OAEP (SHA-1, the only
OAEP hash SoftHSM 2.6 offers; the BYOK format's CKM_RSA_AES_KEY_WRAP), the private key with
CKM_AES_KEY_WRAP_PAD (RFC 5649, of its PKCS#8 form); the two are concatenated. The private key
never leaves the token in the clear; it must be CKA_EXTRACTABLE. Needs `python-pkcs11`.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

import pkcs11
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pkcs11 import MGF, Attribute, KeyType, Mechanism, ObjectClass

SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"
ENC = "CKM_RSA_AES_KEY_WRAP"  # RSA-OAEP-SHA1 of an AES-256 key || AES-KWP of the target key


def read_kek(pem_text: str) -> tuple[str, object]:
    """(kid, RSA public key) from the portal's PEM download (`kid: …` line, then the PEM)."""
    first, _, rest = pem_text.partition("\n")
    if not first.startswith("kid: "):
        raise ValueError("The KEK file must start with its 'kid: …' line (the portal's PEM).")
    return first.removeprefix("kid: ").strip(), serialization.load_pem_public_key(rest.encode())


def wrap_token_key(session, *, key_label: str, kek_public) -> bytes:
    """The BYOK ciphertext of the private key labelled `key_label`, wrapped inside the token."""
    numbers = kek_public.public_numbers()
    kek = session.create_object(
        {
            Attribute.CLASS: ObjectClass.PUBLIC_KEY,
            Attribute.KEY_TYPE: KeyType.RSA,
            Attribute.TOKEN: False,
            Attribute.WRAP: True,
            Attribute.MODULUS: numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big"),
            Attribute.PUBLIC_EXPONENT: numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big"),
        }
    )
    transport = session.generate_key(
        KeyType.AES,
        256,
        store=False,
        template={Attribute.EXTRACTABLE: True, Attribute.WRAP: True, Attribute.SENSITIVE: True},
    )
    target = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=key_label)
    wrapped_transport = kek.wrap_key(
        transport,
        mechanism=Mechanism.RSA_PKCS_OAEP,
        mechanism_param=(Mechanism.SHA_1, MGF.SHA1, None),
    )
    return wrapped_transport + transport.wrap_key(target, mechanism=Mechanism.AES_KEY_WRAP_PAD)


def generate_key_pair(session, *, key_label: str, size: int) -> bytes:
    """An RSA key pair of `size` bits on the token: signing, extractable only wrapped (the
    private key is sensitive). The public key's DER (SubjectPublicKeyInfo)."""
    public, _private = session.generate_keypair(
        KeyType.RSA,
        size,
        store=True,
        label=key_label,
        public_template={Attribute.VERIFY: True},
        private_template={
            Attribute.SIGN: True,
            Attribute.EXTRACTABLE: True,
            Attribute.SENSITIVE: True,
        },
    )
    return public_key_der(public)


def token_public_key(session, key_label: str):
    """The public key object of the key pair labelled `key_label` on the token."""
    return session.get_key(object_class=ObjectClass.PUBLIC_KEY, label=key_label)


def public_key_der(public) -> bytes:
    """The SubjectPublicKeyInfo DER of an RSA public key object on the token."""
    numbers = rsa.RSAPublicNumbers(
        int.from_bytes(public[Attribute.PUBLIC_EXPONENT], "big"),
        int.from_bytes(public[Attribute.MODULUS], "big"),
    )
    return numbers.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def transfer_file(kid: str, ciphertext: bytes) -> dict:
    """The .byok JSON the portal's key.import form takes."""
    return {
        "schema_version": "1.0.0",
        "header": {"kid": kid, "alg": "dir", "enc": ENC},
        "ciphertext": base64.urlsafe_b64encode(ciphertext).rstrip(b"=").decode(),
        "generator": "keywarden tools/byok_softhsm.py; PKCS#11",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("generate", "wrap", "public", "verify"))
    parser.add_argument("--module", default=SOFTHSM_MODULE, help="the PKCS#11 library")
    parser.add_argument("--token", required=True, help="token label")
    parser.add_argument("--pin", required=True, help="user PIN")
    parser.add_argument("--key-label", required=True, help="label of the key to bring")
    parser.add_argument("--size", type=int, default=3072, help="generate: RSA size in bits")
    parser.add_argument("--kek", type=Path, help="wrap: the KEK's PEM from the portal")
    parser.add_argument("--out", type=Path, help="wrap: where to write the .byok file")
    parser.add_argument("--data", help="verify: the signed text")
    parser.add_argument("--signature", help="verify: the RS256 signature, base64")
    args = parser.parse_args(argv)
    if args.command == "wrap" and not (args.kek and args.out):
        parser.error("wrap needs --kek and --out")
    if args.command == "verify" and not (args.data and args.signature):
        parser.error("verify needs --data and --signature")
    token = pkcs11.lib(args.module).get_token(token_label=args.token)
    with token.open(rw=True, user_pin=args.pin) as session:
        if args.command in ("generate", "public"):
            der = (
                generate_key_pair(session, key_label=args.key_label, size=args.size)
                if args.command == "generate"
                else public_key_der(token_public_key(session, args.key_label))
            )
            public = serialization.load_der_public_key(der)
            print(
                public.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                ).decode(),
                end="",
            )
            return 0
        if args.command == "verify":
            valid = token_public_key(session, args.key_label).verify(
                args.data.encode(),
                base64.b64decode(args.signature),
                mechanism=Mechanism.SHA256_RSA_PKCS,
            )
            print("valid" if valid else "invalid")
            return 0 if valid else 1
        kid, kek_public = read_kek(args.kek.read_text())
        ciphertext = wrap_token_key(session, key_label=args.key_label, kek_public=kek_public)
    args.out.write_text(json.dumps(transfer_file(kid, ciphertext), indent=2))
    print(f"Wrote {args.out} for {kid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
