"""The HSM gateway: the only package that imports the Azure SDK (STYLE §5).

`get_gateway()` builds the process's gateway from settings on first use, never at import.
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

from keys.gateway.client import DATA_ACTION_PREFIX, HsmGateway
from keys.gateway.errors import (
    HsmConflict,
    HsmError,
    HsmForbidden,
    HsmInvalid,
    HsmNotFound,
    HsmThrottled,
    HsmTransientError,
    HsmUnavailable,
)
from keys.gateway.pacing import HsmPaced, Pacer
from keys.gateway.retry import RetryPolicy
from keys.gateway.signing import HsmSigner
from keys.gateway.types import (
    DeletedKeyInfo,
    KeyInfo,
    KeyVersionInfo,
    LifetimeAction,
    PublicKeyInfo,
    RoleAssignmentInfo,
    RoleDefinitionInfo,
    RotationPolicyInfo,
    SecurityDomainFile,
    SignedDigest,
)


def build_credential(object_id: str | None = None):
    """DefaultAzureCredential in production; the emulator's token minting in demo/tests."""
    if settings.HSM_CREDENTIAL == "emulator":
        from hsm_emulator.client.credentials import EmulatorCredential

        return EmulatorCredential(object_id=object_id or settings.HSM_PRINCIPAL_ID)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


def build_pacer() -> Pacer | None:
    """Pacing toward the HSM's service limits from settings; None when no Redis is set."""
    if not settings.HSM_PACING_REDIS_URL:
        return None
    return Pacer.from_url(
        settings.HSM_PACING_REDIS_URL,
        limits=settings.HSM_SERVICE_LIMITS,
        window=settings.HSM_SERVICE_LIMIT_WINDOW_SECONDS,
        max_wait=settings.HSM_PACING_MAX_WAIT_SECONDS,
        margin=settings.HSM_PACING_MARGIN_SECONDS,
    )


def build_gateway(
    *, object_id: str | None = None, retry: RetryPolicy | None = None, url: str | None = None
) -> HsmGateway:
    """A gateway from settings; `object_id` picks another emulator principal (set-up, tests,
    ceremonies), `url` another HSM (a recovery rehearsal's scratch HSM).
    Its calls are paced (`build_pacer`); a Retry-After beyond HSM_MAX_RETRY_AFTER_SECONDS is
    raised at once for the caller to reschedule."""
    return HsmGateway(
        url=url or settings.HSM_URL,
        credential=build_credential(object_id),
        ca_file=settings.HSM_CA_FILE,
        # Only the real *.managedhsm.azure.net host matches the challenge's resource.
        verify_challenge_resource=settings.HSM_CREDENTIAL == "azure",
        timeout=settings.HSM_TIMEOUT_SECONDS,
        connect_timeout=settings.HSM_CONNECT_TIMEOUT_SECONDS,
        retry=retry
        or RetryPolicy(
            deadline=settings.HSM_CALL_DEADLINE_SECONDS,
            max_retry_after=settings.HSM_MAX_RETRY_AFTER_SECONDS,
        ),
        pacer=build_pacer(),
    )


def build_audit_signer(*, object_id: str | None = None, key_name: str | None = None) -> HsmSigner:
    """The audit checkpoint signer: its own identity, never Keywarden's (the emulator principal
    HSM_AUDIT_PRINCIPAL_ID; in Azure the user-assigned managed identity HSM_AUDIT_CLIENT_ID),
    which may only sign with and read AUDIT_CHECKPOINT_KEY_NAME (`keys.hsm_role`)."""
    if settings.HSM_CREDENTIAL == "emulator":
        credential = build_credential(object_id or settings.HSM_AUDIT_PRINCIPAL_ID)
    elif not settings.HSM_AUDIT_CLIENT_ID:
        raise ImproperlyConfigured(
            "HSM_AUDIT_CLIENT_ID must name the audit signer's managed identity: checkpoints are "
            "never signed as Keywarden's own identity"
        )
    else:
        from azure.identity import ManagedIdentityCredential

        credential = ManagedIdentityCredential(client_id=settings.HSM_AUDIT_CLIENT_ID)
    return HsmSigner(
        url=settings.HSM_URL,
        credential=credential,
        key_name=key_name or settings.AUDIT_CHECKPOINT_KEY_NAME,
        ca_file=settings.HSM_CA_FILE,
        verify_challenge_resource=settings.HSM_CREDENTIAL == "azure",
        timeout=settings.HSM_TIMEOUT_SECONDS,
    )


@cache
def get_audit_signer() -> HsmSigner:
    """The process-wide audit checkpoint signer."""
    return build_audit_signer()


@cache
def get_gateway() -> HsmGateway:
    """The process-wide gateway for Keywarden's own HSM identity."""
    return build_gateway()


@cache
def get_ceremony_gateway() -> HsmGateway:
    """The gateway security-domain ceremonies run through: the identity holding Managed HSM
    Administrator (HSM_CEREMONY_PRINCIPAL_ID with the emulator), never Keywarden's own role."""
    return build_gateway(object_id=settings.HSM_CEREMONY_PRINCIPAL_ID)


@cache
def get_probe_gateway() -> HsmGateway:
    """A gateway for health probes: one attempt, short timeout, so /readyz answers quickly."""
    return HsmGateway(
        url=settings.HSM_URL,
        credential=build_credential(),
        ca_file=settings.HSM_CA_FILE,
        verify_challenge_resource=settings.HSM_CREDENTIAL == "azure",
        timeout=5,
        retry=RetryPolicy(max_attempts=1),
    )


@receiver(setting_changed)
def _forget_gateway_on_settings_change(*, setting: str, **_kwargs) -> None:
    if setting.startswith(("HSM_", "AUDIT_CHECKPOINT_")):
        get_gateway.cache_clear()
        get_ceremony_gateway.cache_clear()
        get_probe_gateway.cache_clear()
        get_audit_signer.cache_clear()


__all__ = [
    "DATA_ACTION_PREFIX",
    "DeletedKeyInfo",
    "HsmConflict",
    "HsmError",
    "HsmForbidden",
    "HsmGateway",
    "HsmInvalid",
    "HsmNotFound",
    "HsmPaced",
    "HsmSigner",
    "HsmThrottled",
    "HsmTransientError",
    "HsmUnavailable",
    "KeyInfo",
    "KeyVersionInfo",
    "LifetimeAction",
    "Pacer",
    "PublicKeyInfo",
    "RetryPolicy",
    "RoleAssignmentInfo",
    "RoleDefinitionInfo",
    "RotationPolicyInfo",
    "SecurityDomainFile",
    "SignedDigest",
    "build_audit_signer",
    "build_credential",
    "build_gateway",
    "build_pacer",
    "get_audit_signer",
    "get_ceremony_gateway",
    "get_gateway",
    "get_probe_gateway",
]
