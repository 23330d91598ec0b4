"""Plain results of gateway calls (never SDK model types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class KeyVersionInfo:
    """One version of a key, as listed by the HSM."""

    name: str
    version: str
    enabled: bool
    created_on: datetime | None
    updated_on: datetime | None
    not_before: datetime | None
    expires_on: datetime | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KeyInfo:
    """A key's current version with its public material description (never private parts)."""

    name: str
    version: str
    kid: str
    kty: str
    key_size: int | None
    curve: str | None
    key_ops: tuple[str, ...]
    enabled: bool
    exportable: bool
    created_on: datetime | None
    updated_on: datetime | None
    not_before: datetime | None
    expires_on: datetime | None
    tags: dict[str, str]
    recovery_level: str = ""
    request_id: str = ""
    recoverable_days: int | None = None
    # The secure-key-release policy as JSON (None: none, or not valid JSON: `release_policy_raw`).
    release_policy: dict | None = None
    release_policy_raw: str = ""


@dataclass(frozen=True)
class PublicKeyInfo:
    """One version's public key as the HSM returns it: `jwk` holds the public members only
    (kty RSA with n, e; or EC with crv, x, y; base64url) and the versioned `kid`."""

    name: str
    version: str
    kid: str
    jwk: dict[str, str]
    request_id: str = ""


@dataclass(frozen=True)
class DeletedKeyInfo:
    name: str
    recovery_id: str
    deleted_on: datetime | None
    scheduled_purge_on: datetime | None
    version: str
    tags: dict[str, str]
    request_id: str = ""


@dataclass(frozen=True)
class LifetimeAction:
    """`action` is Rotate or Notify; exactly one trigger is set (ISO-8601 durations)."""

    action: str
    time_after_create: str | None = None
    time_before_expiry: str | None = None


@dataclass(frozen=True)
class RotationPolicyInfo:
    lifetime_actions: tuple[LifetimeAction, ...]
    expires_in: str | None
    created_on: datetime | None = None
    updated_on: datetime | None = None
    request_id: str = ""

    @property
    def is_unset(self) -> bool:
        """No policy of its own: the service answers such keys with one Notify 30 days
        before expiry and no expiry time."""
        actions = self.lifetime_actions
        default = (
            len(actions) == 1
            and actions[0].action.lower() == "notify"
            and actions[0].time_before_expiry == "P30D"
            and not actions[0].time_after_create
        )
        return self.expires_in is None and (not actions or default)

    @property
    def rotates_automatically(self) -> bool:
        return any(action.action.lower() == "rotate" for action in self.lifetime_actions)

    def as_dict(self) -> dict:
        """The policy as Keywarden stores and compares it (no timestamps)."""
        return {
            "lifetime_actions": [
                {
                    "action": a.action[:1].upper() + a.action[1:].lower(),
                    **({"time_after_create": a.time_after_create} if a.time_after_create else {}),
                    **(
                        {"time_before_expiry": a.time_before_expiry} if a.time_before_expiry else {}
                    ),
                }
                for a in self.lifetime_actions
            ],
            "expiry_time": self.expires_in,
        }


@dataclass(frozen=True)
class RoleDefinitionInfo:
    id: str
    name: str
    role_name: str
    role_type: str
    data_actions: tuple[str, ...]
    not_data_actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoleAssignmentInfo:
    name: str
    assignment_id: str
    scope: str
    role_definition_id: str
    principal_id: str
    request_id: str = ""

    @property
    def role_definition_name(self) -> str:
        """The GUID at the end of the role definition id."""
        return self.role_definition_id.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class SignedDigest:
    """A signature made in the HSM: the exact key version (`key_id`), algorithm, raw bytes."""

    key_id: str
    algorithm: str
    signature: bytes
    request_id: str = ""


@dataclass(frozen=True)
class SecurityDomainFile:
    """The security domain an HSM handed out at activation: the JSON file the holders keep
    (its shares are wrapped to their certificates), with its SHA-256 for the record."""

    value: str
    sha256: str
    request_id: str = ""
