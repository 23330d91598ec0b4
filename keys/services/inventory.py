"""Record in the inventory what Keywarden itself just did to the HSM.

Executions call these inside their *record* transaction, with what the HSM answered; the result
becomes the drift baseline (`last_applied`), so a later sync sees no drift for it.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Length
from django.db.models.sql import InsertQuery

from accounts.models import Team
from core.rows import from_row, select_columns
from keys.gateway import DeletedKeyInfo, KeyInfo, RoleAssignmentInfo
from keys.models import (
    VERSION_FIELDS,
    KeyState,
    KeyVersion,
    ManagedKey,
    RoleAssignmentMirror,
    RotationSchedule,
    RotationStandard,
)
from keys.selectors import keys_named
from keys.services.compliance import StandardBook
from keys.services.mirror import (
    listed_assignment,
    observe_deleted_key,
    observe_live_key,
    observed_snapshot,
    set_rotation_due,
    upsert_versions,
)
from keys.services.teams import key_name_of_scope

KEEP = object()  # "leave the stored rotation policy as it is"


def _locked_row(name: str) -> ManagedKey:
    """The locked row of `name` in any case, spelled as the HSM now spells it (a purged
    pay-orders made again as Pay-Orders), or a new row."""
    row = keys_named([name], ManagedKey.objects.select_for_update()).first()
    row = row or ManagedKey(name=name)
    row.name = name
    return row


def _owner_of(name: str) -> Team | None:
    """The team owning `name` by key prefix, the longest prefix first (as TeamResolver
    matches): one row read, not every team."""
    return (
        Team.objects.alias(key_name=Value(name))
        .filter(key_name__startswith=F("key_prefix"))
        .order_by(Length("key_prefix").desc(), "slug")
        .first()
    )


# For `record_key_applied`, in one statement: the team owning the key name by prefix, the
# longest first (as `_owner_of`); the key's row in any case (as `keys_named`), locked; and the
# stored rotation standards (as `StandardBook.load` reads them), as JSON.
_APPLIED_CONTEXT_SQL = (
    f"SELECT {select_columns(Team, 't')}, "  # noqa: S608 - model columns
    f"{select_columns(ManagedKey, 'k')}, (SELECT coalesce(json_agg(json_build_array("
    f"{select_columns(RotationStandard, 's')})), '[]')::text FROM keys_rotationstandard s) "
    "FROM (SELECT %s::text AS name) AS wanted "
    "LEFT JOIN LATERAL (SELECT * FROM accounts_team WHERE starts_with(wanted.name, key_prefix) "
    "ORDER BY length(key_prefix) DESC, slug LIMIT 1) AS t ON true "
    "LEFT JOIN LATERAL (SELECT * FROM keys_managedkey WHERE lower(name) = lower(wanted.name) "
    "FOR UPDATE) AS k ON true"
)


def _applied_context(name: str) -> tuple[Team | None, ManagedKey, list[RotationStandard] | None]:
    """`_owner_of(name)`, `_locked_row(name)` and the stored standards (None: not read yet,
    `StandardBook.load` reads them); on PostgreSQL in one statement."""
    if connection.vendor != "postgresql":
        return _owner_of(name), _locked_row(name), None
    with connection.cursor() as cursor:
        cursor.execute(_APPLIED_CONTEXT_SQL, [name])
        values = iter(cursor.fetchone())
    team = from_row(Team, values, connection)
    row = from_row(ManagedKey, values, connection)
    fields = RotationStandard._meta.concrete_fields
    standards = [
        RotationStandard(
            **{f.attname: f.to_python(v) for f, v in zip(fields, standard, strict=True)}
        )
        for standard in json.loads(next(values))
    ]
    if row.pk is None:
        row = ManagedKey(name=name)
    row.name = name
    return (team if team.pk is not None else None), row, standards


def _mark_applied(
    row: ManagedKey,
    now: datetime,
    standards: list[RotationStandard] | None = None,
    version: KeyInfo | None = None,
) -> ManagedKey:
    """Save the row with what the HSM now shows as the new drift baseline, judged (its
    compliance verdict written by the same INSERT or UPDATE: a new row has no schedule), and
    upsert `version` (its current version), if given."""
    row.observed_at = now
    row.last_applied = observed_snapshot(row)
    row.has_drift, row.drift_reasons, row.drift_detected_at = False, [], None
    schedule = RotationSchedule.objects.filter(key=row).first() if row.pk else None
    book = StandardBook.load(teams=[row.team] if row.team_id else [], stored=standards)
    book.judge(row, schedule, now)
    if version is not None and row._state.adding and connection.vendor == "postgresql":
        _insert_with_version(row, version)
        return row
    row.save()
    if version is not None:
        upsert_versions([(row, version)])
    return row


def _insert_with_version(row: ManagedKey, version: KeyInfo) -> None:
    """A new row and its version (as `upsert_versions` writes it) in one statement: the
    version's INSERT takes the id the row's INSERT returns. The row's INSERT is the ORM's own."""
    query = InsertQuery(ManagedKey)
    query.insert_values(
        [field for field in ManagedKey._meta.local_concrete_fields if not field.primary_key],
        [row],
    )
    ((insert_sql, insert_params),) = query.get_compiler(connection=connection).as_sql()
    fields = [KeyVersion._meta.get_field(name) for name in ("version", *VERSION_FIELDS)]
    columns = ", ".join(field.column for field in fields)
    casts = ", ".join(f"%s::{field.db_type(connection)}" for field in fields)
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in VERSION_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH saved AS ({insert_sql} RETURNING id) "  # noqa: S608 - model columns
            f"INSERT INTO keys_keyversion (key_id, {columns}) SELECT saved.id, {casts} "
            f"FROM saved ON CONFLICT (key_id, version) DO UPDATE SET {updates} RETURNING key_id",
            [
                *insert_params,
                *(
                    field.get_db_prep_save(getattr(version, field.name), connection)
                    for field in fields
                ),
            ],
        )
        row.pk = cursor.fetchone()[0]
    row._state.adding, row._state.db = False, connection.alias


# Savepoint-free: these run inside the execution's record transaction (one statement each).
in_caller_transaction = transaction.atomic(savepoint=False)


@in_caller_transaction
def record_key_applied(
    *, key: KeyInfo, now: datetime, rotation_policy: dict | object | None = KEEP
) -> ManagedKey:
    """Upsert the key's current version as the HSM returned it after our change."""
    owner, row, standards = _applied_context(key.name)
    new_version = row.current_version != key.version
    if row.current_version and new_version:
        row.last_rotated_on = key.created_on
    observe_live_key(row, team=owner, listing=key, key=key)
    if rotation_policy is not KEEP:
        row.rotation_policy = rotation_policy
    # A new version adds one; a sync recounts exactly if anything else happened meanwhile.
    row.version_count = row.version_count + 1 if new_version else max(row.version_count, 1)
    row.created_on = row.created_on or key.created_on
    set_rotation_due(row, version_created=key.created_on)
    _mark_applied(row, now, standards, version=key)
    return row


@in_caller_transaction
def record_rotation_policy_applied(*, name: str, policy: dict | None, now: datetime) -> ManagedKey:
    row = _locked_row(name)
    row.rotation_policy = policy
    current = row.versions.filter(version=row.current_version).first() if row.pk else None
    set_rotation_due(row, version_created=current.created_on if current else row.created_on)
    return _mark_applied(row, now)


@in_caller_transaction
def record_key_deleted(*, deleted: DeletedKeyInfo, now: datetime) -> ManagedKey:
    row = _locked_row(deleted.name)
    observe_deleted_key(row, deleted)
    return _mark_applied(row, now)


@in_caller_transaction
def record_key_purged(*, name: str, now: datetime) -> ManagedKey:
    row = _locked_row(name)
    row.state = KeyState.PURGED
    return _mark_applied(row, now)


@in_caller_transaction
def record_assignment_applied(
    *, assignment: RoleAssignmentInfo, role_name: str, principal_type: str, now: datetime
) -> RoleAssignmentMirror:
    """Mirror an assignment Keywarden made (managed, so never drift)."""
    key_name = key_name_of_scope(assignment.scope)
    key = keys_named([key_name]).first() if key_name else None
    row, _ = RoleAssignmentMirror.objects.update_or_create(
        name=assignment.name,
        defaults={
            **listed_assignment(
                assignment,
                role_name=role_name,
                key_id=key.pk if key else None,
                team=_owner_of(key_name) if key_name else None,
            ),
            "principal_type": principal_type,
            "is_managed": True,
            "has_drift": False,
            "drift_reasons": [],
            "last_synced_at": now,
        },
    )
    return row


@in_caller_transaction
def record_assignment_removed(*, name: str, now: datetime) -> int:
    """Mark an assignment Keywarden removed as absent (no drift: we did it)."""
    return RoleAssignmentMirror.objects.filter(name=name).update(
        is_present=False, is_managed=False, has_drift=False, drift_reasons=[], last_synced_at=now
    )
