"""Map Azure SDK exceptions and models to the gateway's domain errors and dataclasses."""

from __future__ import annotations

import base64
import json
import logging

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.keyvault.keys import KeyReleasePolicy

from keys.gateway.errors import (
    HsmConflict,
    HsmError,
    HsmForbidden,
    HsmInvalid,
    HsmNotFound,
    HsmThrottled,
    HsmUnavailable,
)
from keys.gateway.types import (
    DeletedKeyInfo,
    KeyInfo,
    KeyVersionInfo,
    LifetimeAction,
    PublicKeyInfo,
    RoleAssignmentInfo,
    RoleDefinitionInfo,
    RotationPolicyInfo,
)

logger = logging.getLogger(__name__)
UNREACHABLE = "The HSM could not be reached (connection, TLS or name resolution failed)."
NO_ANSWER = "The HSM's answer never came back (timeout or dropped connection)."

# 500/502/504 may come after the HSM did the work; 503 and 429 mean it did not start.
_MAYBE_APPLIED_STATUSES = {500, 502, 504}


def text(value) -> str:
    """SDK enums (KeyType, RoleScope, …) as their wire value; plain strings unchanged."""
    return "" if value is None else str(getattr(value, "value", value))


def _retry_after(response) -> float | None:
    raw = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None  # an HTTP-date: fall back to our own backoff


def translate_error(exc: Exception, operation: str) -> HsmError | None:
    """The domain error for an SDK exception, or None when it is not an HSM failure."""
    # The transport's own text (hosts, sockets, certificates) goes to the log, not to the
    # requests, pages and probes that show an HSM error's message.
    if isinstance(exc, ServiceRequestError):  # never reached the HSM (connect, TLS, DNS)
        logger.warning("hsm.unreachable", extra={"operation": operation}, exc_info=exc)
        return HsmUnavailable(UNREACHABLE, operation=operation)
    if isinstance(exc, ServiceResponseError):  # sent, but the answer never came back
        logger.warning("hsm.no_answer", extra={"operation": operation}, exc_info=exc)
        return HsmUnavailable(NO_ANSWER, maybe_applied=True, operation=operation)
    if not isinstance(exc, HttpResponseError):
        return None
    response = exc.response
    status = exc.status_code
    fields = {
        "code": (exc.error.code if exc.error else "") or "",
        "status": status,
        "request_id": (response.headers.get("x-ms-request-id", "") if response else "") or "",
        "operation": operation,
    }
    message = (exc.error.message if exc.error else None) or exc.reason or str(exc)
    if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
        return HsmForbidden(message, **fields)
    if status == 404:
        return HsmNotFound(message, **fields)
    if status == 409:
        return HsmConflict(message, **fields)
    if status == 429:
        return HsmThrottled(message, retry_after=_retry_after(response), **fields)
    if status == 408 or (status or 0) >= 500:
        return HsmUnavailable(
            message,
            retry_after=_retry_after(response),
            maybe_applied=status in _MAYBE_APPLIED_STATUSES,
            **fields,
        )
    return HsmInvalid(message, **fields)


def key_info(key, request_id: str = "") -> KeyInfo:
    """KeyInfo from an SDK KeyVaultKey; sizes come from the public JWK (absent for oct)."""
    jwk, props = key.key, key.properties
    size = len(jwk.n) * 8 if getattr(jwk, "n", None) else None
    return KeyInfo(
        name=key.name,
        version=props.version or "",
        kid=key.id,
        kty=text(jwk.kty),
        key_size=size,
        curve=text(jwk.crv) or None,
        key_ops=tuple(text(op) for op in (key.key_operations or ())),
        enabled=bool(props.enabled),
        exportable=bool(props.exportable),
        created_on=props.created_on,
        updated_on=props.updated_on,
        not_before=props.not_before,
        expires_on=props.expires_on,
        tags=dict(props.tags or {}),
        recovery_level=text(props.recovery_level),
        request_id=request_id,
        recoverable_days=props.recoverable_days,
        **_release_policy_of(props.release_policy),
    )


def _b64url(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


# JWK public members per key family (RFC 7518 §6); private members are never copied.
PUBLIC_MEMBERS = {"RSA": ("n", "e"), "EC": ("crv", "x", "y")}


def public_key_info(key, request_id: str = "") -> PublicKeyInfo:
    """PublicKeyInfo from an SDK KeyVaultKey; `jwk` is empty for a symmetric key."""
    jwk = key.key
    family = text(jwk.kty).removesuffix("-HSM")
    members = {"kty": family, "kid": key.id} if family in PUBLIC_MEMBERS else {}
    for member in PUBLIC_MEMBERS.get(family, ()):
        value = getattr(jwk, member)
        members[member] = text(value) if member == "crv" else _b64url(value)
    return PublicKeyInfo(
        name=key.name,
        version=key.properties.version or "",
        kid=key.id,
        jwk=members,
        request_id=request_id,
    )


def _release_policy_of(policy: KeyReleasePolicy | None) -> dict:
    """The policy as a dict, or its raw text when it is not a JSON object (linted, not lost)."""
    if policy is None or not policy.encoded_policy:
        return {}
    raw = bytes(policy.encoded_policy).decode("utf-8", errors="replace")
    try:
        document = json.loads(raw)
    except ValueError:
        return {"release_policy_raw": raw}
    if not isinstance(document, dict):
        return {"release_policy_raw": raw}
    return {"release_policy": document, "release_policy_raw": raw}


def version_info(props) -> KeyVersionInfo:
    return KeyVersionInfo(
        name=props.name,
        version=props.version or "",
        enabled=bool(props.enabled),
        created_on=props.created_on,
        updated_on=props.updated_on,
        not_before=props.not_before,
        expires_on=props.expires_on,
        tags=dict(props.tags or {}),
    )


def rotation_policy_info(policy, request_id: str = "") -> RotationPolicyInfo:
    return RotationPolicyInfo(
        lifetime_actions=tuple(
            LifetimeAction(
                action=text(action.action),
                time_after_create=action.time_after_create,
                time_before_expiry=action.time_before_expiry,
            )
            for action in (policy.lifetime_actions or ())
        ),
        expires_in=policy.expires_in,
        created_on=policy.created_on,
        updated_on=policy.updated_on,
        request_id=request_id,
    )


def assignment_info(assignment, request_id: str = "") -> RoleAssignmentInfo:
    props = assignment.properties
    return RoleAssignmentInfo(
        name=assignment.name,
        assignment_id=assignment.role_assignment_id,
        scope=text(props.scope),
        role_definition_id=props.role_definition_id,
        principal_id=props.principal_id,
        request_id=request_id,
    )


def release_policy(policy: dict | None) -> KeyReleasePolicy | None:
    if policy is None:
        return None
    return KeyReleasePolicy(json.dumps(policy, separators=(",", ":")).encode())


def deleted_info(deleted, request_id: str = "") -> DeletedKeyInfo:
    return DeletedKeyInfo(
        name=deleted.name,
        recovery_id=deleted.recovery_id or "",
        deleted_on=deleted.deleted_date,
        scheduled_purge_on=deleted.scheduled_purge_date,
        version=deleted.properties.version or "",
        tags=dict(deleted.properties.tags or {}),
        request_id=request_id,
    )


def definition_info(definition) -> RoleDefinitionInfo:
    permissions = definition.permissions or []
    return RoleDefinitionInfo(
        id=definition.id,
        name=definition.name,
        role_name=definition.role_name,
        role_type=text(definition.role_type),
        data_actions=tuple(a for p in permissions for a in (p.data_actions or [])),
        not_data_actions=tuple(a for p in permissions for a in (p.not_data_actions or [])),
    )
