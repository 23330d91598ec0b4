"""Is the HSM reachable, and does Keywarden's identity hold exactly what it needs?"""

from __future__ import annotations

from django.conf import settings

from keys.gateway import HsmGateway, get_probe_gateway
from keys.hsm_role import FORBIDDEN_DATA_ACTIONS, REQUIRED_DATA_ACTIONS


class MissingPermissions(Exception):
    """Keywarden's HSM identity lacks data actions it needs (or holds ones it must not)."""


def check_hsm(gateway: HsmGateway | None = None) -> str:
    """A one-line status; raises HsmError (unreachable, forbidden) or MissingPermissions."""
    gateway = gateway or get_probe_gateway()
    scope = settings.HSM_ROLE_SCOPE
    granted = gateway.effective_data_actions(settings.HSM_PRINCIPAL_ID, scope=scope)
    missing = [a for a in REQUIRED_DATA_ACTIONS if a not in granted]
    excess = [a for a in FORBIDDEN_DATA_ACTIONS if a in granted]
    if missing:
        short = ", ".join(a.removeprefix("Microsoft.KeyVault/managedHsm/") for a in missing)
        raise MissingPermissions(f"Keywarden's identity lacks at {scope}: {short}")
    if excess:
        short = ", ".join(a.removeprefix("Microsoft.KeyVault/managedHsm/") for a in excess)
        raise MissingPermissions(f"Keywarden's identity may use keys ({short}): remove that role")
    # It manages role assignments, so it could grant itself signing on the checkpoint key alone.
    checkpoint_scope = f"/keys/{settings.AUDIT_CHECKPOINT_KEY_NAME}"
    on_checkpoint_key = gateway.effective_data_actions(
        settings.HSM_PRINCIPAL_ID, scope=checkpoint_scope
    )
    if set(FORBIDDEN_DATA_ACTIONS) & on_checkpoint_key:
        raise MissingPermissions(
            f"Keywarden's identity may use the audit checkpoint key at {checkpoint_scope}: "
            "remove that assignment"
        )
    return f"{gateway.url} reachable; all {len(REQUIRED_DATA_ACTIONS)} data actions granted"
