"""Encryption at rest under the master key file (``DIR/master.key``, 0600).

Private key material is sealed with AES-GCM bound to its key name and version; per-key backup
blobs use a separate derived key and a versioned format header so a tampered or foreign blob is
refused instead of half-restored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hsm_emulator.errors import bad_parameter
from hsm_emulator.storage_files import read_or_create_secret

BACKUP_MAGIC = b"HSMEMU-KEYBACKUP\x01"
_NONCE = 12


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


class Sealer:
    """Seals key material for storage and per-key backup blobs, all under one master key."""

    def __init__(self, master_key: bytes) -> None:
        self._storage = AESGCM(_derive(master_key, b"hsm_emulator storage v1"))
        self._backup = AESGCM(_derive(master_key, b"hsm_emulator key backup v1"))

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> Sealer:
        """Load ``master.key`` from the data dir, creating it (0600) on first start."""
        return cls(read_or_create_secret(data_dir / "master.key", 32))

    def seal(self, secret: bytes, context: str) -> bytes:
        """nonce || AES-GCM(secret), authenticated together with ``context`` (name/version)."""
        nonce = os.urandom(_NONCE)
        return nonce + self._storage.encrypt(nonce, secret, context.encode())

    def unseal(self, sealed: bytes, context: str) -> bytes:
        """Inverse of ``seal``; raises InvalidTag if the row was tampered with or moved."""
        return self._storage.decrypt(sealed[:_NONCE], sealed[_NONCE:], context.encode())

    def seal_backup(self, document: dict[str, Any]) -> bytes:
        """An opaque, authenticated, encrypted per-key backup blob."""
        nonce = os.urandom(_NONCE)
        plaintext = json.dumps(document, separators=(",", ":")).encode()
        return BACKUP_MAGIC + nonce + self._backup.encrypt(nonce, plaintext, BACKUP_MAGIC)

    def open_backup(self, blob: bytes) -> dict[str, Any]:
        """Decrypt a blob from ``seal_backup``; anything else is 400 BadParameter."""
        if not blob.startswith(BACKUP_MAGIC) or len(blob) < len(BACKUP_MAGIC) + _NONCE + 16:
            raise bad_parameter("The backup blob is not a key backup made by this HSM.")
        body = blob[len(BACKUP_MAGIC) :]
        try:
            plaintext = self._backup.decrypt(body[:_NONCE], body[_NONCE:], BACKUP_MAGIC)
        except InvalidTag as exc:
            raise bad_parameter("The backup blob is corrupt or was made by another HSM.") from exc
        return json.loads(plaintext)
