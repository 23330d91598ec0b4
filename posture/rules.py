"""The posture rules (README "HSM posture"): each a small function over an `HsmSnapshot`
returning one `Hit` per subject it holds for; `RULES` is the one registry."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings

from keys.gateway import RoleAssignmentInfo, RoleDefinitionInfo
from keys.hsm_role import AUDIT_SIGNER_ROLE_ID, FORBIDDEN_DATA_ACTIONS, KEYWARDEN_ROLE_ID
from keys.release_policy import pins_only_attestation_type, unapproved_authorities
from posture.models import Severity, SubjectKind
from posture.snapshot import HsmSnapshot

ADMINISTRATOR = "a290e904-7015-4bba-90c8-60543313cdb4"
CRYPTO_OFFICER = "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"
BUILT_IN_ROLE_TYPE = "AKVBuiltInRole"
KEY_ACTION_PREFIX = "Microsoft.KeyVault/managedHsm/keys/"
PURGEABLE = "Purgeable"


@dataclass(frozen=True)
class Hit:
    subject: str
    subject_kind: str
    summary: str
    evidence: dict = field(default_factory=dict)
    key_name: str = ""
    principal_id: str = ""


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    title: str
    check: Callable[[HsmSnapshot], list[Hit]]


def _evidence(snapshot: HsmSnapshot, assignments: list[RoleAssignmentInfo]) -> dict:
    return {
        "assignments": [
            {
                "name": a.name,
                "role": snapshot.role_name_of(a),
                "role_definition_id": a.role_definition_id,
                "principal_id": a.principal_id,
                "scope": a.scope,
            }
            for a in sorted(assignments, key=lambda a: (a.scope, a.name))
        ]
    }


def _by_principal(snapshot: HsmSnapshot) -> dict[str, list[RoleAssignmentInfo]]:
    held = defaultdict(list)
    for assignment in snapshot.assignments:
        held[assignment.principal_id.lower()].append(assignment)
    return held


def _key_actions(definition: RoleDefinitionInfo | None) -> set[str]:
    if definition is None:
        return set()
    actions = set(definition.data_actions) - set(definition.not_data_actions)
    return {action for action in actions if action.startswith(KEY_ACTION_PREFIX)}


def _principal_hit(snapshot: HsmSnapshot, principal: str, summary: str, held, **extra) -> Hit:
    """A finding about one principal, its assignments (and `extra`) as the evidence."""
    evidence = {**_evidence(snapshot, held), **extra}
    return Hit(principal, SubjectKind.PRINCIPAL, summary, evidence, principal_id=principal)


def multiple_roles(snapshot: HsmSnapshot) -> list[Hit]:
    hits = []
    for principal, held in _by_principal(snapshot).items():
        roles = {a.role_definition_name for a in held}
        if len(roles) > 1:
            names = sorted(snapshot.role_name_of(a) for a in held)
            summary = f"Principal {principal} holds {len(roles)} roles: {', '.join(names)}."
            hits.append(_principal_hit(snapshot, principal, summary, held))
    return hits


def administrator_with_key_roles(snapshot: HsmSnapshot) -> list[Hit]:
    hits = []
    for principal, held in _by_principal(snapshot).items():
        if not any(a.role_definition_name == ADMINISTRATOR for a in held):
            continue
        key_roles = [
            a
            for a in held
            if a.role_definition_name == CRYPTO_OFFICER or _key_actions(snapshot.definition_of(a))
        ]
        if key_roles:
            names = sorted({snapshot.role_name_of(a) for a in key_roles})
            summary = f"Administrator {principal} also holds {', '.join(names)}."
            hits.append(_principal_hit(snapshot, principal, summary, held))
    return hits


def administrator_held_by_user(snapshot: HsmSnapshot) -> list[Hit]:
    hits = []
    for assignment in snapshot.assignments:
        principal = assignment.principal_id.lower()
        if assignment.role_definition_name != ADMINISTRATOR:
            continue
        if snapshot.principal_type(principal) != "User":
            continue
        summary = (
            f"Administrator is held by the user {principal}, not a group: deleting the account "
            "can lock the HSM out."
        )
        evidence = {**_evidence(snapshot, [assignment]), "principal_type": "User"}
        hits.append(
            Hit(assignment.name, SubjectKind.ASSIGNMENT, summary, evidence, principal_id=principal)
        )
    return hits


def key_roles_at_root(snapshot: HsmSnapshot) -> list[Hit]:
    """Roles whose every data action is on keys could be assigned on the keys they need."""
    hits = []
    for assignment in snapshot.assignments:
        definition = snapshot.definition_of(assignment)
        if assignment.scope != "/" or definition is None:
            continue
        actions = set(definition.data_actions) - set(definition.not_data_actions)
        if actions and actions == _key_actions(definition):
            summary = (
                f"{definition.role_name} is assigned to {assignment.principal_id} at / "
                "(every key); it could be scoped to /keys/<name>."
            )
            hits.append(
                Hit(
                    assignment.name,
                    SubjectKind.ASSIGNMENT,
                    summary,
                    _evidence(snapshot, [assignment]),
                    principal_id=assignment.principal_id,
                )
            )
    return hits


def keywarden_identity_exceeds_its_role(snapshot: HsmSnapshot) -> list[Hit]:
    principal = snapshot.keywarden_principal.lower()
    held = _by_principal(snapshot).get(principal, [])
    others = [a for a in held if a.role_definition_name != KEYWARDEN_ROLE_ID]
    key_use = sorted(
        {
            action
            for a in held
            for action in _key_actions(snapshot.definition_of(a))
            if action in FORBIDDEN_DATA_ACTIONS
        }
    )
    if not others and not key_use:
        return []
    other_roles = ", ".join(sorted({snapshot.role_name_of(a) for a in others}))
    reasons = [f"roles besides its own: {other_roles}"] if others else []
    reasons += [f"key use: {', '.join(key_use)}"] if key_use else []
    summary = f"Keywarden's identity holds more than its custom role ({'; '.join(reasons)})."
    return [_principal_hit(snapshot, principal, summary, held, key_use_actions=key_use)]


def unreviewed_roles(snapshot: HsmSnapshot) -> list[Hit]:
    reviewed = {KEYWARDEN_ROLE_ID, AUDIT_SIGNER_ROLE_ID, *settings.POSTURE_REVIEWED_ROLES}
    hits = []
    for name, definition in sorted(snapshot.definitions.items()):
        if definition.role_type == BUILT_IN_ROLE_TYPE or name in reviewed:
            continue
        assigned = [a for a in snapshot.assignments if a.role_definition_name == name]
        summary = (
            f"Custom role {definition.role_name} ({name}) is neither built in nor reviewed; "
            f"{len(assigned)} assignment(s)."
        )
        evidence = {
            "role": definition.role_name,
            "role_definition_id": definition.id,
            "data_actions": sorted(definition.data_actions),
            **_evidence(snapshot, assigned),
        }
        hits.append(Hit(name, SubjectKind.ROLE, summary, evidence))
    return hits


def weak_recovery(snapshot: HsmSnapshot) -> list[Hit]:
    key = snapshot.recovery_key
    if key is None:
        return []  # no key to report it: nothing to lose yet
    minimum = settings.POSTURE_MIN_RETENTION_DAYS
    problems = []
    if PURGEABLE in key.recovery_level:
        problems.append("purge protection is off")
    if key.recoverable_days is not None and key.recoverable_days < minimum:
        problems.append(f"deleted keys are kept {key.recoverable_days} days (minimum {minimum})")
    if not problems:
        return []
    evidence = {
        "recovery_level": key.recovery_level,
        "recoverable_days": key.recoverable_days,
        "minimum_retention_days": minimum,
        "read_from_key": key.name,
    }
    summary = f"Recovery is weaker than required: {'; '.join(problems)}."
    return [Hit("hsm", SubjectKind.HSM, summary, evidence)]


def no_recent_full_backup(snapshot: HsmSnapshot) -> list[Hit]:
    max_age = timedelta(hours=settings.POSTURE_BACKUP_MAX_AGE_HOURS)
    last = snapshot.last_full_backup
    if last is not None and snapshot.now - last <= max_age:
        return []
    when = f"the last was {last:%Y-%m-%d %H:%M} UTC" if last else "Keywarden never ran one"
    summary = f"No full HSM backup within {settings.POSTURE_BACKUP_MAX_AGE_HOURS} hours ({when})."
    evidence = {
        "last_full_backup": last.isoformat() if last else None,
        "max_age_hours": settings.POSTURE_BACKUP_MAX_AGE_HOURS,
    }
    return [Hit("hsm", SubjectKind.HSM, summary, evidence)]


def exportable_without_release_policy(snapshot: HsmSnapshot) -> list[Hit]:
    return [
        Hit(
            key.name,
            SubjectKind.KEY,
            f"Key {key.name} is exportable but has no release policy.",
            {"exportable": True, "release_policy": None},
            key_name=key.name,
        )
        for key in snapshot.exportable_keys
        if key.release_policy is None and not key.release_policy_raw
    ]


def untrusted_release_policy(snapshot: HsmSnapshot) -> list[Hit]:
    hits = []
    for key in snapshot.exportable_keys:
        if key.release_policy is None and not key.release_policy_raw:
            continue
        policy = key.release_policy
        problems = [
            f"{where}: authority {url or '(none)'} is not approved"
            for where, url in unapproved_authorities(policy)
        ]
        problems += [
            f"{where}: pins no claim beyond the attestation type"
            for where in pins_only_attestation_type(policy)
        ]
        if policy is None:
            problems = ["the policy is not a JSON object"]
        if problems:
            summary = f"Release policy of {key.name}: {'; '.join(problems)}."
            evidence = {"release_policy": policy or key.release_policy_raw, "problems": problems}
            hits.append(Hit(key.name, SubjectKind.KEY, summary, evidence, key_name=key.name))
    return hits


RULES: tuple[Rule, ...] = (
    Rule(
        "principal.multiple_roles",
        Severity.MEDIUM,
        "More than one role for a principal",
        multiple_roles,
    ),
    Rule(
        "principal.administrator_with_key_roles",
        Severity.HIGH,
        "Administrator together with Crypto Officer or a key role",
        administrator_with_key_roles,
    ),
    Rule(
        "assignment.administrator_user",
        Severity.HIGH,
        "Administrator held by an individual user",
        administrator_held_by_user,
    ),
    Rule(
        "assignment.key_role_at_root",
        Severity.MEDIUM,
        "Key role assigned at / instead of on keys",
        key_roles_at_root,
    ),
    Rule(
        "principal.keywarden_exceeds_role",
        Severity.HIGH,
        "Keywarden's identity holds more than its custom role",
        keywarden_identity_exceeds_its_role,
    ),
    Rule(
        "role.unreviewed",
        Severity.MEDIUM,
        "Custom role neither built in nor reviewed",
        unreviewed_roles,
    ),
    Rule(
        "hsm.weak_recovery",
        Severity.HIGH,
        "Purge protection off or retention too short",
        weak_recovery,
    ),
    Rule(
        "hsm.no_recent_full_backup", Severity.MEDIUM, "No recent full backup", no_recent_full_backup
    ),
    Rule(
        "key.exportable_without_policy",
        Severity.HIGH,
        "Exportable key without release policy",
        exportable_without_release_policy,
    ),
    Rule(
        "key.untrusted_release_policy",
        Severity.HIGH,
        "Release policy with an unapproved authority or no claim pinned",
        untrusted_release_policy,
    ),
)
RULES_BY_ID = {rule.id: rule for rule in RULES}
