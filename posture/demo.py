"""Two posture findings for the demo to look at, made out of band as an HSM administrator
would: a principal holding two roles on one key (its fix revokes one through a request), and
a key-use role assigned at `/` instead of on the keys that need it. Idempotent."""

from __future__ import annotations

import uuid
from contextlib import suppress

from keys.gateway import HsmConflict, HsmGateway

ROLE_ID_PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"
CRYPTO_AUDITOR = "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3"
SERVICE_RELEASE_USER = "21dbd100-6940-42c2-9190-5d6cb909625c"
DEMO_APP_OID = "00000000-0000-0000-0000-00000000d001"  # an app team's service principal
DEMO_TEE_OID = "00000000-0000-0000-0000-00000000d002"  # a confidential-computing workload


def seed_posture_demo(*, admin_gateway: HsmGateway, key_name: str) -> None:
    """Assign, as `admin_gateway`'s HSM administrator, what makes the two demo findings."""
    for principal, role, scope in (
        (DEMO_APP_OID, CRYPTO_USER, f"/keys/{key_name}"),
        (DEMO_APP_OID, CRYPTO_AUDITOR, f"/keys/{key_name}"),
        (DEMO_TEE_OID, SERVICE_RELEASE_USER, "/"),
    ):
        name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"keywarden-demo:{principal}:{role}:{scope}"))
        with suppress(HsmConflict):  # already in place
            admin_gateway.create_role_assignment(
                scope=scope,
                role_definition_id=ROLE_ID_PREFIX + role,
                principal_id=principal,
                name=name,
            )
