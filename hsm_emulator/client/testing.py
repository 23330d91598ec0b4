"""SDK clients and BYOK helpers for tests and benchmarks against a running emulator.

with EmulatorProcess(tmp_path / "hsm") as hsm:
    clients = make_clients(hsm.url, hsm.ca_path, DEFAULT_ADMIN_OID)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from azure.keyvault.administration import (
    KeyVaultAccessControlClient,
    KeyVaultBackupClient,
    KeyVaultSettingsClient,
)
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from hsm_emulator import byok
from hsm_emulator.client.credentials import EmulatorCredential
from hsm_emulator.client.launcher import EmulatorProcess

__all__ = [
    "EmulatorClients",
    "EmulatorProcess",
    "byok_transfer_blob",
    "client_kwargs",
    "make_clients",
]


@dataclass
class EmulatorClients:
    """Official SDK clients for one principal, all trusting the emulator's CA."""

    credential: EmulatorCredential
    keys: KeyClient
    access_control: KeyVaultAccessControlClient
    backup: KeyVaultBackupClient
    settings: KeyVaultSettingsClient
    client_kwargs: dict[str, Any]

    def crypto(self, key: Any) -> CryptographyClient:
        """A CryptographyClient for a KeyVaultKey or key id, with the same settings."""
        return CryptographyClient(key, self.credential, **self.client_kwargs)


def client_kwargs(ca_path: str, **extra: Any) -> dict[str, Any]:
    """The two keyword arguments every SDK client needs for the emulator, plus ``extra``."""
    return {"verify_challenge_resource": False, "connection_verify": str(ca_path), **extra}


def make_clients(url: str, ca_path: str, object_id: str, **extra: Any) -> EmulatorClients:
    """KeyClient, access-control, backup and settings clients acting as ``object_id``."""
    credential = EmulatorCredential(object_id)
    kwargs = client_kwargs(ca_path, **extra)
    return EmulatorClients(
        credential=credential,
        keys=KeyClient(url, credential, **kwargs),
        access_control=KeyVaultAccessControlClient(url, credential, **kwargs),
        backup=KeyVaultBackupClient(url, credential, **kwargs),
        settings=KeyVaultSettingsClient(url, credential, **kwargs),
        client_kwargs=kwargs,
    )


def byok_transfer_blob(kek_id: str, kek_public_key: rsa.RSAPublicKey, target: Any) -> bytes:
    """The ``key_hsm`` bytes (``JsonWebKey.t``) importing ``target`` under the KEK.

    ``target`` is an RSA/EC private key object (sent as PKCS#8) or raw AES key bytes.
    """
    if isinstance(target, bytes):
        plaintext = target
    else:
        plaintext = target.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    envelope = byok.envelope(kek_id, byok.wrap(kek_public_key, plaintext))
    return json.dumps(envelope).encode()
