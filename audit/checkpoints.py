"""Signed checkpoints of the audit chain: what is signed, how a signature is checked, the file.

The chain alone proves only that the events link up: an attacker with the table owner's rights
can delete the newest events, truncate, or edit one and re-hash every later one, and the result
verifies. A checkpoint pins the head — (number, head sequence, head hash, time) in canonical
JSON (`statement_bytes`) — with an ES256 signature made in the HSM by a key only the audit
signer identity may use, so a chain that lost or changed checkpointed events no longer matches.
Insert-only forgery after the last checkpoint cannot be detected by the chain: checkpoints,
kept also outside the database (`append_to_file`), are the control.

The signer and the public keys come from above (the `keys` layer builds them from the HSM
gateway): this module only knows the two callables `Signer` and `PublicKeyLookup`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from audit.chain import format_timestamp
from core.canonical import canonical_bytes

STATEMENT_FORMAT = "keywarden.audit.checkpoint.v1"
ALGORITHM = "ES256"  # ECDSA P-256 with SHA-256, signature as raw r‖s (JWA)
FILE_FIELDS = (
    "number",
    "head_sequence",
    "head_hash",
    "signed_at",
    "key_id",
    "algorithm",
    "signature",
)


class KeyUnavailable(Exception):
    """A checkpoint's key cannot be used to verify: unknown, not the checkpoint key, gone."""


@dataclass(frozen=True)
class Signature:
    """What a signer returns: the exact key version used, the algorithm and the signature."""

    key_id: str
    algorithm: str
    value: bytes


class Signer(Protocol):
    """Signs a SHA-256 digest with the checkpoint key (in the HSM)."""

    def __call__(self, digest: bytes) -> Signature: ...


# key id (with version) → that version's public key; raises KeyUnavailable.
PublicKeyLookup = Callable[[str], ec.EllipticCurvePublicKey]


def statement_bytes(
    *, number: int, head_sequence: int, head_hash: str, signed_at: datetime | str
) -> bytes:
    """The signed bytes: canonical JSON of the checkpoint's statement."""
    moment = signed_at if isinstance(signed_at, str) else format_timestamp(signed_at)
    return canonical_bytes(
        {
            "format": STATEMENT_FORMAT,
            "number": number,
            "head_sequence": head_sequence,
            "head_hash": head_hash,
            "signed_at": moment,
        }
    )


def statement_digest(**statement: Any) -> bytes:
    """SHA-256 of `statement_bytes(**statement)`: what the HSM signs."""
    return hashlib.sha256(statement_bytes(**statement)).digest()


def encode_signature(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode("ascii")


def decode_signature(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signature_problem(record: dict[str, Any], public_key_for: PublicKeyLookup) -> str | None:
    """Why a checkpoint record's signature does not verify, or None when it does.

    `record` has `FILE_FIELDS` (`signed_at` canonical text, `signature` base64url)."""
    if record["algorithm"] != ALGORITHM:
        return f"algorithm {record['algorithm']!r} is not {ALGORITHM}"
    try:
        public_key = public_key_for(record["key_id"])
    except KeyUnavailable as exc:
        return f"key {record['key_id']} cannot verify it: {exc}"
    raw = decode_signature(record["signature"])
    if len(raw) != 64:
        return f"the signature has {len(raw)} bytes, not 64"
    der = utils.encode_dss_signature(
        int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    )
    digest = statement_digest(
        number=record["number"],
        head_sequence=record["head_sequence"],
        head_hash=record["head_hash"],
        signed_at=record["signed_at"],
    )
    try:
        public_key.verify(der, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except InvalidSignature:
        return f"the signature does not verify with key {record['key_id']}"
    return None


def append_to_file(path: str, record: dict[str, Any]) -> None:
    """Append one checkpoint as a JSON line; the file is opened in append mode only (mount it
    append-only, e.g. `chattr +a`, or ship it to a log store) and fsynced."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({name: record[name] for name in FILE_FIELDS}, sort_keys=True) + "\n"
    with target.open("a", encoding="utf-8") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def read_file(path: str) -> Iterator[dict[str, Any]]:
    """The checkpoint records of the file, in file order. Raises ValueError for a bad line."""
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            record = json.loads(line)
            missing = [name for name in FILE_FIELDS if name not in record]
            if missing:
                raise ValueError(f"{path}:{number}: checkpoint line lacks {missing}")
            yield record
