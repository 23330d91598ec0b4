"""The emulator's application object: configuration, state, authorization, fault table, log."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hsm_emulator import DEFAULT_ADMIN_OID, DEFAULT_TENANT_ID
from hsm_emulator.attestation import Authority, AuthorityRegistry
from hsm_emulator.certs import TlsMaterial
from hsm_emulator.clock import Clock
from hsm_emulator.errors import access_denied
from hsm_emulator.faults import FaultTable, RequestLog
from hsm_emulator.jobs import JobRunner
from hsm_emulator.limits import ServiceLimits
from hsm_emulator.rbac import (
    BUILTIN_DEFINITIONS,
    covering_scopes,
    definition_name_from_id,
    initial_admin_assignment,
    permits,
)
from hsm_emulator.securitydomain import SecurityDomainState
from hsm_emulator.store import Store

ACTION_PREFIX = "Microsoft.KeyVault/managedHsm/"


@dataclass(frozen=True)
class Config:
    """Everything the CLI decides about one emulator process."""

    data_dir: Path
    initial_admins: tuple[str, ...] = (DEFAULT_ADMIN_OID,)
    purge_protection: bool = False
    retention_days: int = 90
    tenant_id: str = DEFAULT_TENANT_ID
    rotation_tick: float = 60.0
    hsm_name: str = "emulator"
    clock_offset: int = 0  # seconds; a minimum: a larger offset kept in the data dir wins
    clock_start_behind: int = 0  # seconds behind real time a NEW data dir's clock starts
    not_activated: bool = False  # a data dir without an activation record awaits a security domain
    job_seconds: float = 2.0  # how long a full backup/restore job stays InProgress (real time)
    attestation_authorities: tuple[Authority, ...] = ()  # trusted besides those in the data dir


@dataclass
class App:
    """Shared by every request thread; all mutable state lives in ``store`` or is locked."""

    config: Config
    store: Store
    tls: TlsMaterial | None = None
    clock: Clock = field(default_factory=Clock)
    faults: FaultTable = field(default_factory=FaultTable)
    log: RequestLog = field(default_factory=RequestLog)
    limits: ServiceLimits = field(default_factory=ServiceLimits)
    jobs: JobRunner = field(init=False)
    security_domain: SecurityDomainState = field(init=False)
    attestation: AuthorityRegistry = field(init=False)
    started_config: Config = field(init=False)  # what a reset returns to (the command line's)

    def __post_init__(self) -> None:
        self.started_config = self.config
        self.jobs = JobRunner(self.store, self.clock, duration=self.config.job_seconds)
        self.security_domain = SecurityDomainState(
            self.config.data_dir, not_activated=self.config.not_activated
        )
        self.attestation = AuthorityRegistry(
            self.config.data_dir, self.config.attestation_authorities
        )

    @classmethod
    def open(cls, config: Config, tls: TlsMaterial | None = None) -> App:
        """Open (or create) the state in the data dir and make sure the initial admins exist."""
        clock = Clock.open(
            config.data_dir,
            at_least=config.clock_offset,
            start_behind=config.clock_start_behind,
        )
        app = cls(config=config, store=Store(config.data_dir), tls=tls, clock=clock)
        app.ensure_initial_admins()
        app.store.admin.fail_unfinished_jobs(now=clock.now())
        return app

    def ensure_initial_admins(self) -> None:
        """Give every initial admin the Administrator role at ``/`` (idempotent)."""
        self.store.roles.ensure_assignments(
            [initial_admin_assignment(oid) for oid in self.config.initial_admins]
        )

    def reset(self) -> None:
        """Back to a fresh HSM: no keys, no custom roles, only the initial admin assignments, and
        the command line's purge protection and retention."""
        self.config = self.started_config
        self.store.admin.wipe()
        self.store.keys.forget_loaded()
        self.ensure_initial_admins()

    @property
    def recovery_level(self) -> str:
        """recoveryLevel reported on keys, from purge protection and the retention period."""
        base = "Recoverable" if self.config.retention_days == 90 else "CustomizedRecoverable"
        return base if self.config.purge_protection else base + "+Purgeable"

    def role_definition(self, role_definition_id: str) -> dict[str, Any] | None:
        """A built-in or custom role definition by id or name."""
        name = definition_name_from_id(role_definition_id)
        return BUILTIN_DEFINITIONS.get(name) or self.store.roles.custom_definition(name)

    def is_allowed(self, principal: str, action: str, scope: str) -> bool:
        """True when an assignment of ``principal`` at or above ``scope`` grants ``action``."""
        full_action = ACTION_PREFIX + action
        assignments = self.store.roles.assignments(
            scopes=covering_scopes(scope), principal=principal
        )
        for assignment in assignments:
            definition = self.role_definition(assignment.role_definition_id)
            if definition is not None and permits(definition, full_action):
                return True
        return False

    def authorize(self, principal: str, action: str, scope: str, activity_id: str) -> None:
        """Raise 403 AccessDenied unless ``principal`` may perform ``action`` on ``scope``."""
        if not self.is_allowed(principal, action, scope):
            raise access_denied(action, scope, activity_id)
