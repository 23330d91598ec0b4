"""Keywarden's own least-privilege custom role on the HSM (PRODUCT.md §2).

Keywarden manages keys but never uses them: no sign, verify, encrypt, decrypt, wrap, unwrap,
release or export. An HSM administrator creates and assigns this role at set-up
(`manage.py bootstrap_hsm` does it against the emulator); /readyz reports what is missing.
"""

from __future__ import annotations

KEYWARDEN_ROLE_ID = "6b5c1f4e-2f0a-4d8e-9c3b-4b7e0d1a9f21"
KEYWARDEN_ROLE_NAME = "Keywarden Key Manager"
KEYWARDEN_ROLE_DESCRIPTION = (
    "Key lifecycle management for Keywarden: create, import, rotate, update, delete, recover, "
    "purge, back up and restore keys, and manage key-scoped role assignments. No key use."
)
REQUIRED_DATA_ACTIONS = tuple(
    f"Microsoft.KeyVault/managedHsm/{action}"
    for action in (
        "keys/read/action",
        "keys/write/action",
        "keys/create",
        "keys/import/action",
        "keys/rotate/action",
        "keys/delete",
        "keys/deletedKeys/read/action",
        "keys/deletedKeys/recover/action",
        "keys/deletedKeys/delete",
        "keys/backup/action",
        "keys/restore/action",
        "roleDefinitions/read/action",
        "roleAssignments/read/action",
        "roleAssignments/write/action",
        "roleAssignments/delete/action",
    )
)
# Never granted to Keywarden: cryptographic use of keys.
FORBIDDEN_DATA_ACTIONS = tuple(
    f"Microsoft.KeyVault/managedHsm/keys/{action}"
    for action in (
        "sign/action",
        "verify/action",
        "encrypt/action",
        "decrypt/action",
        "wrap/action",
        "unwrap/action",
        "release/action",
        "export/action",
        "derive/action",
    )
)

# The audit checkpoint signer's own custom role, assigned at /keys/<checkpoint key> only: sign
# with that one key, and read it (the signature names the key version; verifiers fetch its
# public key). Never held by Keywarden's own identity.
AUDIT_SIGNER_ROLE_ID = "3f0d6a52-8c1e-4b7a-9d2f-6e4c1b8a7d33"
AUDIT_SIGNER_ROLE_NAME = "Keywarden Audit Checkpoint Signer"
AUDIT_SIGNER_ROLE_DESCRIPTION = (
    "Signs Keywarden's audit checkpoints: sign with and read the one checkpoint key it is "
    "assigned on. Nothing else."
)
AUDIT_SIGNER_DATA_ACTIONS = tuple(
    f"Microsoft.KeyVault/managedHsm/keys/{action}" for action in ("sign/action", "read/action")
)
