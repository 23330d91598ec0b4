"""HsmGateway: the only code that calls the Azure SDK clients (KeyClient, access control, backup).

Every method translates SDK errors into `keys.gateway.errors` and retries transient ones within
a bounded budget; every result is a plain dataclass from `keys.gateway.types`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime

from azure.keyvault.administration import (
    KeyVaultAccessControlClient,
    KeyVaultBackupClient,
)
from azure.keyvault.keys import (
    JsonWebKey,
    KeyClient,
    KeyRotationLifetimeAction,
    KeyRotationPolicy,
)
from azure.keyvault.keys.crypto import SignatureAlgorithm
from azure.keyvault.securitydomain import SecurityDomainClient

from keys import metrics
from keys.gateway import translate
from keys.gateway.administration import HsmAdministration
from keys.gateway.errors import HsmError, HsmNotFound, HsmThrottled
from keys.gateway.pacing import Pacer
from keys.gateway.retry import RetryPolicy
from keys.gateway.types import (
    DeletedKeyInfo,
    KeyInfo,
    KeyVersionInfo,
    LifetimeAction,
    PublicKeyInfo,
    RotationPolicyInfo,
)

DATA_ACTION_PREFIX = "Microsoft.KeyVault/managedHsm/"


class HsmGateway(HsmAdministration):
    """One Managed HSM, reached as one principal. Thread-safe; build once per process."""

    def __init__(
        self,
        *,
        url: str,
        credential,
        ca_file: str = "",
        verify_challenge_resource: bool = True,
        timeout: int = 30,
        connect_timeout: int = 10,
        retry: RetryPolicy | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._retry = retry or RetryPolicy()
        self._pacer = pacer
        options = {
            "retry_total": 0,  # retries are ours (see keys.gateway.retry)
            "connection_timeout": min(connect_timeout, timeout),
            "read_timeout": timeout,
            "verify_challenge_resource": verify_challenge_resource,
        }
        if ca_file:
            options["connection_verify"] = ca_file
        self._keys = KeyClient(self.url, credential, **options)
        self._access = KeyVaultAccessControlClient(self.url, credential, **options)
        self._backup = KeyVaultBackupClient(self.url, credential, **options)
        self._security_domain = SecurityDomainClient(self.url, credential, **options)

    @property
    def pacer(self) -> Pacer | None:
        """The pacing this gateway's calls take tokens from (None: not paced)."""
        return self._pacer

    def with_heartbeat(self, heartbeat: Callable[[], None], *, every: float) -> HsmGateway:
        """The same HSM and SDK clients, with `heartbeat` run before every try and every
        `every` seconds of a retry wait (an execution attempt keeping its lease)."""
        clone = copy.copy(self)
        clone._retry = replace(self._retry, heartbeat=heartbeat, heartbeat_every=every)
        return clone

    def trying_once(self) -> HsmGateway:
        """The same HSM and SDK clients, each call one try (no retries, no waits): a read made
        ahead of time, whose failure its caller answers by making the call again."""
        clone = copy.copy(self)
        clone._retry = replace(self._retry, max_attempts=1)
        return clone

    # --- plumbing -------------------------------------------------------------------------------
    def _call(self, operation: str, fn: Callable[[dict], object], *, idempotent: bool):
        """Run fn(hook_kwargs) with retries; returns (result, HSM request id of the last try)."""
        seen: dict[str, str] = {}

        def hook(pipeline_response) -> None:
            seen["id"] = pipeline_response.http_response.headers.get("x-ms-request-id", "")

        def attempt():
            if self._pacer is not None:  # every try takes a token (raises HsmPaced)
                self._pacer.acquire(self.url, operation)
            metrics.count_hsm_call(operation)
            return fn({"raw_response_hook": hook})

        result = self._retry.run(
            attempt,
            idempotent=idempotent,
            translate=lambda exc: self._translated(exc, operation),
        )
        return result, seen.get("id", "")

    def _translated(self, exc: Exception, operation: str) -> HsmError | None:
        error = translate.translate_error(exc, operation)
        metrics.count_hsm_error(operation, error)
        if isinstance(error, HsmThrottled) and error.retry_after and self._pacer is not None:
            self._pacer.hold(self.url, operation, error.retry_after)  # for every worker
        return error

    def _pages(self, operation: str, make_pager: Callable[[], object]) -> Iterator:
        """Iterate a paged listing, retrying each page on its own (a 429 on page 150 of 200
        repeats one page, not the whole listing)."""
        token = None
        while True:
            pages = make_pager().by_page(continuation_token=token)
            items, _ = self._call(operation, lambda _h, p=pages: list(next(p)), idempotent=True)
            yield from items
            token = pages.continuation_token
            if not token:
                return

    # --- keys -----------------------------------------------------------------------------------
    def create_key(
        self,
        name: str,
        *,
        kty: str,
        size: int | None = None,
        curve: str | None = None,
        key_ops: list[str] | None = None,
        enabled: bool = True,
        not_before: datetime | None = None,
        expires_on: datetime | None = None,
        tags: dict[str, str] | None = None,
        exportable: bool = False,
        release_policy: dict | None = None,
    ) -> KeyInfo:
        """Create a key, or a NEW VERSION if the name exists — callers check first."""
        policy = translate.release_policy(release_policy)
        key, request_id = self._call(
            "key.create",
            lambda hook: self._keys.create_key(
                name,
                kty,
                size=size,
                curve=curve,
                key_operations=key_ops,
                enabled=enabled,
                not_before=not_before,
                expires_on=expires_on,
                tags=tags,
                exportable=exportable or None,
                release_policy=policy,
                **hook,
            ),
            idempotent=False,
        )
        return translate.key_info(key, request_id)

    def import_byok_key(
        self,
        name: str,
        *,
        kty: str,
        transfer_blob: bytes,
        kek_id: str,
        key_ops: list[str] | None = None,
        tags: dict[str, str] | None = None,
        enabled: bool = True,
    ) -> KeyInfo:
        """Import a key wrapped to the HSM's key-exchange key `kek_id` (BYOK `key_hsm`)."""
        jwk = JsonWebKey(kid=kek_id, kty=kty, key_ops=key_ops, t=transfer_blob)
        key, request_id = self._call(
            "key.import",
            lambda hook: self._keys.import_key(
                name, jwk, hardware_protected=True, enabled=enabled, tags=tags, **hook
            ),
            idempotent=False,
        )
        return translate.key_info(key, request_id)

    def get_key(self, name: str, version: str | None = None) -> KeyInfo:
        key, request_id = self._call(
            "key.get", lambda hook: self._keys.get_key(name, version, **hook), idempotent=True
        )
        return translate.key_info(key, request_id)

    def get_public_key(self, name: str, version: str | None = None) -> PublicKeyInfo:
        """One version's (None: the current one's) public JWK and kid, read from the HSM."""
        key, request_id = self._call(
            "key.get", lambda hook: self._keys.get_key(name, version, **hook), idempotent=True
        )
        return translate.public_key_info(key, request_id)

    def find_key(self, name: str) -> KeyInfo | None:
        """The key, or None when it does not exist (deleted keys count as absent)."""
        try:
            return self.get_key(name)
        except HsmNotFound:
            return None

    def list_keys(self) -> Iterator[KeyVersionInfo]:
        """Every live key (current version's attributes; `version` is empty in listings)."""
        for props in self._pages("key.list", self._keys.list_properties_of_keys):
            yield translate.version_info(props)

    def list_key_versions(self, name: str) -> Iterator[KeyVersionInfo]:
        for props in self._pages(
            "key.list_versions", lambda: self._keys.list_properties_of_key_versions(name)
        ):
            yield translate.version_info(props)

    def update_key(
        self,
        name: str,
        *,
        enabled: bool | None = None,
        not_before: datetime | None = None,
        expires_on: datetime | None = None,
        key_ops: list[str] | None = None,
        tags: dict[str, str] | None = None,
        version: str | None = None,
    ) -> KeyInfo:
        """Change the properties of `version` (None: the current one); None leaves a property
        as it is."""
        key, request_id = self._call(
            "key.update",
            lambda hook: self._keys.update_key_properties(
                name,
                version,
                enabled=enabled,
                not_before=not_before,
                expires_on=expires_on,
                key_operations=key_ops,
                tags=tags,
                **hook,
            ),
            idempotent=True,
        )
        return translate.key_info(key, request_id)

    def rotate_key(self, name: str) -> KeyInfo:
        """Make a new version. Not idempotent: repeat only after checking the current version."""
        key, request_id = self._call(
            "key.rotate", lambda hook: self._keys.rotate_key(name, **hook), idempotent=False
        )
        return translate.key_info(key, request_id)

    def get_rotation_policy(self, name: str) -> RotationPolicyInfo:
        policy, request_id = self._call(
            "key.get_rotation_policy",
            lambda hook: self._keys.get_key_rotation_policy(name, **hook),
            idempotent=True,
        )
        return translate.rotation_policy_info(policy, request_id)

    def set_rotation_policy(
        self, name: str, *, lifetime_actions: list[LifetimeAction], expires_in: str | None
    ) -> RotationPolicyInfo:
        """Replace the key's rotation policy (the SDK gives no request id for this call)."""
        policy = KeyRotationPolicy(
            lifetime_actions=[
                KeyRotationLifetimeAction(
                    action.action,
                    time_after_create=action.time_after_create,
                    time_before_expiry=action.time_before_expiry,
                )
                for action in lifetime_actions
            ],
            expires_in=expires_in,
        )
        result, _ = self._call(
            "key.set_rotation_policy",
            lambda _hook: self._keys.update_key_rotation_policy(name, policy),
            idempotent=True,
        )
        return translate.rotation_policy_info(result)

    def delete_key(self, name: str) -> DeletedKeyInfo:
        """Soft-delete the key and wait until the HSM lists it as deleted."""
        deleted, request_id = self._call(
            "key.delete",
            lambda hook: self._keys.begin_delete_key(name, _polling_interval=0.2, **hook).result(),
            idempotent=True,
        )
        return translate.deleted_info(deleted, request_id)

    def get_deleted_key(self, name: str) -> DeletedKeyInfo:
        deleted, request_id = self._call(
            "key.get_deleted",
            lambda hook: self._keys.get_deleted_key(name, **hook),
            idempotent=True,
        )
        return translate.deleted_info(deleted, request_id)

    def list_deleted_keys(self) -> Iterator[DeletedKeyInfo]:
        for deleted in self._pages("key.list_deleted", self._keys.list_deleted_keys):
            yield translate.deleted_info(deleted)

    def recover_key(self, name: str) -> KeyInfo:
        """Recover a soft-deleted key and wait until it is live again."""
        key, request_id = self._call(
            "key.recover",
            lambda hook: self._keys.begin_recover_deleted_key(
                name, _polling_interval=0.2, **hook
            ).result(),
            idempotent=True,
        )
        return translate.key_info(key, request_id)

    def purge_key(self, name: str) -> str:
        """Permanently delete a soft-deleted key. Returns the HSM request id."""
        _, request_id = self._call(
            "key.purge", lambda hook: self._keys.purge_deleted_key(name, **hook), idempotent=True
        )
        return request_id

    def backup_key(self, name: str) -> tuple[bytes, str]:
        """The HSM's protected backup blob of every version, and the HSM request id."""
        return self._call(
            "key.backup", lambda hook: self._keys.backup_key(name, **hook), idempotent=True
        )

    def restore_key(self, blob: bytes) -> KeyInfo:
        key, request_id = self._call(
            "key.restore",
            lambda hook: self._keys.restore_key_backup(blob, **hook),
            idempotent=False,
        )
        return translate.key_info(key, request_id)

    def verify_signature(
        self, name: str, version: str, *, algorithm: str, digest: bytes, signature: bytes
    ) -> bool:
        """Whether key `name`/`version` in this HSM verifies `signature` over `digest` (the
        proof a recovery brought a key back: a signature made before verifies after)."""
        crypto = self._keys.get_cryptography_client(name, key_version=version)
        result, _ = self._call(
            "key.verify",
            lambda hook: crypto.verify(SignatureAlgorithm(algorithm), digest, signature, **hook),
            idempotent=True,
        )
        return bool(result.is_valid)
