"""Managed HSM (Azure Key Vault data-plane) emulator for tests, benchmarks and the demo.

Run it with ``python -m hsm_emulator serve --data-dir DIR``; see ``hsm_emulator/README.md``.
This package imports nothing from Django or the portal apps.
"""

DEFAULT_ADMIN_OID = "00000000-0000-0000-0000-00000000a001"
DEFAULT_TENANT_ID = "00000000-0000-0000-0000-000000000001"
RESOURCE = "https://managedhsm.azure.net"
