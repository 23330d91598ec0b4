"""The HSM-wide half of HsmGateway: local RBAC, full backup, the security domain, readiness.

A mixin over HsmGateway's plumbing (`_call` and the SDK clients it builds); only keys.gateway
imports it."""

from __future__ import annotations

import base64
import hashlib

from azure.keyvault.administration import KeyVaultPermission
from azure.keyvault.securitydomain.models import CertificateInfo, SecurityDomainJsonWebKey
from cryptography import x509

from keys.gateway import translate
from keys.gateway.types import RoleAssignmentInfo, RoleDefinitionInfo, SecurityDomainFile


class HsmAdministration:
    """RBAC, full-HSM backup and security-domain calls of `HsmGateway` (which inherits them)."""

    # --- local RBAC -----------------------------------------------------------------------------
    def list_role_definitions(self, scope: str = "/") -> list[RoleDefinitionInfo]:
        definitions, _ = self._call(
            "role.list_definitions",
            lambda hook: list(self._access.list_role_definitions(scope, **hook)),
            idempotent=True,
        )
        return [translate.definition_info(d) for d in definitions]

    def set_role_definition(
        self, *, name: str, role_name: str, description: str, data_actions: list[str]
    ) -> RoleDefinitionInfo:
        """Create or replace a custom role definition at scope `/` (PUT: idempotent)."""
        permission = KeyVaultPermission(data_actions=data_actions)
        definition, _ = self._call(
            "role.set_definition",
            lambda hook: self._access.set_role_definition(
                "/",
                name=name,
                role_name=role_name,
                description=description,
                permissions=[permission],
                assignable_scopes=["/"],
                **hook,
            ),
            idempotent=True,
        )
        return translate.definition_info(definition)

    def list_role_assignments(self, scope: str = "/") -> list[RoleAssignmentInfo]:
        """Assignments visible at `scope` (at `/`: every assignment in the HSM)."""
        assignments, _ = self._call(
            "role.list_assignments",
            lambda hook: list(self._access.list_role_assignments(scope, **hook)),
            idempotent=True,
        )
        return [translate.assignment_info(a) for a in assignments]

    def create_role_assignment(
        self, *, scope: str, role_definition_id: str, principal_id: str, name: str
    ) -> RoleAssignmentInfo:
        """Assign a role under a caller-chosen name (a repeat of the same PUT is harmless)."""
        assignment, request_id = self._call(
            "role.assign",
            lambda hook: self._access.create_role_assignment(
                scope, role_definition_id, principal_id, name=name, **hook
            ),
            idempotent=True,
        )
        return translate.assignment_info(assignment, request_id)

    def delete_role_assignment(self, *, scope: str, name: str) -> str:
        """Remove an assignment (absent already counts as removed). Returns the request id."""
        _, request_id = self._call(
            "role.revoke",
            lambda hook: self._access.delete_role_assignment(scope, name, **hook),
            idempotent=True,
        )
        return request_id

    # --- full-HSM backup ------------------------------------------------------------------------
    def full_backup(self, *, container_url: str, sas_token: str | None = None) -> str:
        """Back up the whole HSM to a storage container; returns the backup folder URL."""
        credential = {"sas_token": sas_token} if sas_token else {"use_managed_identity": True}
        result, _ = self._call(
            "hsm.backup",
            lambda hook: self._waited(
                self._backup.begin_backup(container_url, _polling_interval=1, **credential, **hook)
            ),
            idempotent=False,
        )
        return result.folder_url

    def _waited(self, poller):
        """A long-running operation's result, beating the attempt's lease (if any) every
        `heartbeat_every` seconds while the HSM works: a backup may outlast the lease."""
        while not poller.done():
            poller.wait(timeout=self._retry.heartbeat_every)
            if self._retry.heartbeat is not None:
                self._retry.heartbeat()
        return poller.result()

    # --- security domain ------------------------------------------------------------------------
    def download_security_domain(
        self, *, certificates: list[bytes], quorum: int
    ) -> SecurityDomainFile:
        """Activate a new HSM: its security domain, shares wrapped to the holders' DER
        certificates, `quorum` of them needed to recover (waits for the activation). Not
        repeated on a lost answer: a second download would hand out other shares."""
        info = CertificateInfo(
            certificates=[_security_domain_jwk(der) for der in certificates], required=quorum
        )
        result, request_id = self._call(
            "hsm.security_domain_download",
            lambda hook: self._security_domain.begin_download(info, **hook).result(),
            idempotent=False,
        )
        value = result.value
        return SecurityDomainFile(
            value=value, sha256=hashlib.sha256(value.encode()).hexdigest(), request_id=request_id
        )

    def security_domain_transfer_key(self) -> dict:
        """The key a recovery's restore blob is wrapped to (a JWK with its certificate `x5c`)."""
        result, _ = self._call(
            "hsm.security_domain_transfer_key",
            lambda hook: self._security_domain.get_transfer_key(**hook),
            idempotent=True,
        )
        return {"x5c": list(result.transfer_key.x5_c)}

    def upload_security_domain(self, value: str) -> str:
        """Recover the keys of a security domain into this new HSM (waits for the restore).
        Returns the HSM request id."""
        _, request_id = self._call(
            "hsm.security_domain_upload",
            lambda hook: self._security_domain.begin_upload({"value": value}, **hook).result(),
            idempotent=False,
        )
        return request_id

    # --- readiness ------------------------------------------------------------------------------
    def effective_data_actions(self, principal_id: str, scope: str = "/keys") -> set[str]:
        """Data actions `principal_id` holds at `scope` through its role assignments."""
        definitions = {d.id: d for d in self.list_role_definitions(scope)}
        by_guid = {d.name: d for d in definitions.values()}
        granted: set[str] = set()
        for assignment in self.list_role_assignments(scope):
            applies = assignment.scope in ("/", scope) or scope.startswith(assignment.scope + "/")
            if assignment.principal_id != principal_id or not applies:
                continue
            definition = definitions.get(assignment.role_definition_id) or by_guid.get(
                assignment.role_definition_name
            )
            if definition:
                granted |= set(definition.data_actions) - set(definition.not_data_actions)
        return granted


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _security_domain_jwk(der: bytes) -> SecurityDomainJsonWebKey:
    """A holder's certificate as the security domain download names it (RSA public key,
    the certificate itself, SHA-1 and SHA-256 thumbprints)."""
    certificate = x509.load_der_x509_certificate(der)
    numbers = certificate.public_key().public_numbers()
    return SecurityDomainJsonWebKey(
        kid=certificate.subject.rfc4514_string(),
        kty="RSA",
        key_ops=["verify", "encrypt", "wrapKey"],
        n=_b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        e=_b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        x5_c=[base64.b64encode(der).decode()],
        alg="RSA-OAEP-256",
        x5_t=_b64url(hashlib.sha1(der).digest()),  # noqa: S324 - the x5t thumbprint is SHA-1
        x5_t_s256=_b64url(hashlib.sha256(der).digest()),
    )
