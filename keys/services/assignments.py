"""Mirror of the HSM's role assignments, with drift for key-scoped changes made elsewhere."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.context import AuditContext
from audit.services import EventSpec, record_events
from keys.gateway import HsmGateway
from keys.models import ManagedKey, RoleAssignmentMirror
from keys.services.events import drift_event
from keys.services.mirror import listed_assignment
from keys.services.teams import TeamResolver, key_name_of_scope

ASSIGNMENT_FIELDS = (
    "scope",
    "key",
    "team",
    "role_definition_id",
    "role_name",
    "principal_id",
    "is_present",
    "has_drift",
    "drift_reasons",
    "last_synced_at",
    "sync_run",
)


def assignment_drift(row: RoleAssignmentMirror) -> list[str]:
    """Keywarden governs key-scoped assignments; `/` and `/keys` belong to HSM administrators."""
    if row.is_present and not row.is_managed and key_name_of_scope(row.scope):
        return ["Assigned outside Keywarden."]
    if not row.is_present and row.is_managed:
        return ["Removed outside Keywarden."]
    return []


@transaction.atomic
def sync_role_assignments(
    *, gateway: HsmGateway, run_id: uuid.UUID, teams: TeamResolver, ctx: AuditContext
) -> int:
    """Upsert every assignment the HSM lists, mark vanished ones absent. Returns the count."""
    scope = settings.HSM_ROLE_SCOPE  # Keywarden reads where its role is assigned
    definitions = gateway.list_role_definitions(scope)
    role_names = {d.id: d.role_name for d in definitions} | {
        d.name: d.role_name for d in definitions
    }
    listed = gateway.list_role_assignments(scope)
    stored = {a.name: a for a in RoleAssignmentMirror.objects.select_for_update()}
    key_names = {key_name_of_scope(a.scope) for a in listed} - {None}
    key_ids = dict(ManagedKey.objects.filter(name__in=key_names).values_list("name", "pk"))
    now, rows, events = timezone.now(), [], []
    for item in listed:
        row = stored.pop(item.name, None) or RoleAssignmentMirror(name=item.name)
        key_name = key_name_of_scope(item.scope)
        fields = listed_assignment(
            item,
            role_name=role_names.get(item.role_definition_id)
            or role_names.get(item.role_definition_name, ""),
            key_id=key_ids.get(key_name),
            team=teams.owner_of(key_name) if key_name else None,
        )
        for name, value in fields.items():
            setattr(row, name, value)
        events += _reconcile(row, now, run_id)
        rows.append(row)
    for row in stored.values():  # listed no more
        if row.is_present:
            row.is_present = False
            events += _reconcile(row, now, run_id)
            rows.append(row)
    if rows:
        RoleAssignmentMirror.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["name"], update_fields=ASSIGNMENT_FIELDS
        )
    record_events(ctx, events)
    return len(listed)


def _reconcile(row: RoleAssignmentMirror, now, run_id) -> list[EventSpec]:
    reasons, previous = assignment_drift(row), list(row.drift_reasons or [])
    row.has_drift, row.drift_reasons = bool(reasons), reasons
    row.last_synced_at, row.sync_run = now, run_id
    if not reasons or reasons == previous:
        return []
    return [
        drift_event(
            row,
            previous,
            reasons,
            principal_id=row.principal_id,
            role=row.role_name,
            scope=row.scope,
        )
    ]
