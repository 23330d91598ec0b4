"""Inventory sync: read the whole HSM and reconcile the mirror in bulk.

Memory stays flat (keys stream from the HSM in chunks) and the number of SQL statements grows
per chunk of `CHUNK_SIZE` keys, never per key. Each chunk commits on its own with its audit
events, so a failed run leaves consistent rows behind and the next run carries on; keys are
marked purged only after a complete listing.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from audit.actions import Action
from audit.context import AuditContext
from audit.services import EventSpec, record_event, record_events
from core.errors import Conflict, DomainError
from core.runs import start_exclusive_run
from keys import drift
from keys.gateway import HsmError, HsmGateway, HsmNotFound, KeyInfo, KeyVersionInfo, get_gateway
from keys.models import InventorySyncRun, KeyState, ManagedKey, SyncStatus
from keys.selectors import keys_named
from keys.services.assignments import sync_role_assignments
from keys.services.compliance import refresh_compliance
from keys.services.events import drift_event, hsm_rotation_event
from keys.services.mirror import (
    observe_deleted_key,
    observe_live_key,
    observed_snapshot,
    set_rotation_due,
    upsert_versions,
)
from keys.services.sync_reads import STORED_FIELDS, ReadPlan, plan_reads
from keys.services.teams import TeamResolver
from keys.services.warnings import warn_rotated_by_hsm

logger = logging.getLogger(__name__)
CHUNK_SIZE = 500
# The posture rules judge what a sync read (posture.tasks, above keys: sent by this name).
POSTURE_TASK_NAME = "posture.evaluate_posture"
STALE_RUN_AFTER = timedelta(minutes=15)
KEY_FIELDS = (
    "team",
    "kty",
    "key_size",
    "curve",
    "key_ops",
    "is_kek",
    "enabled",
    "exportable",
    "tags",
    "current_version",
    "version_count",
    "created_on",
    "updated_on",
    "not_before",
    "expires_on",
    "rotation_policy",
    "last_rotated_on",
    "current_version_created_on",
    "state",
    "deleted_on",
    "scheduled_purge_on",
    "last_applied",
    "has_drift",
    "drift_reasons",
    "drift_detected_at",
    "observed_at",
    "last_synced_at",
    "sync_run",
)

READ_STAMPS = ("observed_at", "last_synced_at", "sync_run")
CONTENT_ATTNAMES = tuple(
    ManagedKey._meta.get_field(name).attname for name in KEY_FIELDS if name not in READ_STAMPS
)


class SyncAlreadyRunning(Conflict):
    default_message = "An inventory sync is already running."


@dataclass(frozen=True)
class KeyReading:
    """What one key looks like in the HSM at `observed_at`: its listing item, and what was read
    beyond it (`key`/`versions` None, `policy_read` False: as stored)."""

    listing: KeyVersionInfo
    observed_at: datetime
    key: KeyInfo | None = None
    versions: tuple[KeyVersionInfo, ...] | None = None
    policy_read: bool = False
    policy: dict | None = None


def sync_inventory(
    *,
    ctx: AuditContext,
    gateway: HsmGateway | None = None,
    full: bool = False,
    trigger: str = "schedule",
    progress: Callable[[int], None] | None = None,
) -> InventorySyncRun:
    """Mirror every key, version, rotation policy, deleted key and role assignment.

    Incremental by default: a key whose listing is unchanged costs no call, a changed one a get
    (and its versions when it has a new current version); `full` also re-reads what the listing
    never shows, each key's rotation policy and older versions (`keys.services.sync_reads`).
    Raises SyncAlreadyRunning when another run holds the claim."""
    gateway = gateway or get_gateway()
    run = _claim_run(trigger)
    teams = TeamResolver.load()
    try:
        for chunk in _chunks(gateway.list_keys(), CHUNK_SIZE):
            readings = _read_chunk(gateway, chunk, full=full)
            _apply_chunk(run, readings, teams, ctx)
            if progress:
                progress(len(chunk))
        for chunk in _chunks(gateway.list_deleted_keys(), CHUNK_SIZE):
            _apply_deleted_chunk(run, chunk, teams, ctx)
        _mark_purged(run, ctx)
        run.assignments_seen = sync_role_assignments(
            gateway=gateway, run_id=run.pk, teams=teams, ctx=ctx
        )
    except Exception as exc:
        _finish(run, SyncStatus.FAILED, ctx, error=_failure_summary(exc))
        raise  # the caller (task, command) logs it with its traceback
    _finish(run, SyncStatus.SUCCEEDED, ctx)
    _judge_posture(trigger)
    return run


def _judge_posture(trigger: str) -> None:
    """Queue the posture evaluation of what this sync read; a broker outage skips it (logged:
    the next sync queues one again)."""
    if not settings.POSTURE_AFTER_SYNC:
        return
    try:
        current_app.send_task(POSTURE_TASK_NAME, kwargs={"trigger": f"sync:{trigger}"})
    except (OperationalError, OSError) as exc:
        logger.warning("inventory.posture_not_queued", extra={"error": repr(exc)})


def _failure_summary(exc: Exception) -> str:
    """What the sync page may show: an HSM or domain error's message, else only the type (an
    arbitrary exception's text may hold SQL, hosts or secrets)."""
    if isinstance(exc, HsmError | DomainError):
        return f"{type(exc).__name__}: {exc.message}"
    return f"{type(exc).__name__} (details in the log)"


def _claim_run(trigger: str) -> InventorySyncRun:
    return start_exclusive_run(
        InventorySyncRun,
        now=timezone.now(),
        stale_after=STALE_RUN_AFTER,
        already_running=SyncAlreadyRunning,
        trigger=trigger,
    )


def _finish(run, status, ctx, *, error: str = "") -> InventorySyncRun:
    run.status, run.error, run.finished_at = status, error, timezone.now()
    with transaction.atomic():
        run.save()
        record_event(
            ctx,
            Action.KEY_INVENTORY_SYNCED,
            target=run,
            after={
                "status": status,
                "keys_seen": run.keys_seen,
                "keys_new": run.keys_new,
                "keys_deleted": run.keys_deleted,
                "keys_purged": run.keys_purged,
                "assignments_seen": run.assignments_seen,
                "drift_found": run.drift_found,
                "error": error,
            },
        )
    return run


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _read_chunk(gateway: HsmGateway, listings: list[KeyVersionInfo], *, full: bool):
    """Read what each listed key needs beyond its listing (`sync_reads.plan_reads`), in
    parallel threads: the HSM round trip, not the database, bounds a sync."""
    stored = {
        row["name"]: row
        for row in ManagedKey.objects.filter(name__in=[k.name for k in listings]).values(
            *STORED_FIELDS
        )
    }

    def read(listing: KeyVersionInfo) -> KeyReading | None:
        observed_at = timezone.now()
        row = stored.get(listing.name)
        plan = plan_reads(row, listing, full=full)
        if not plan.reads_anything:
            return KeyReading(listing=listing, observed_at=observed_at)
        try:
            return _read_key(gateway, listing, observed_at, plan, row)
        except HsmNotFound:
            return None  # deleted meanwhile: the deleted-keys listing picks it up

    with ThreadPoolExecutor(max_workers=settings.INVENTORY_SYNC_CONCURRENCY) as pool:
        return [reading for reading in pool.map(read, listings) if reading is not None]


def _read_key(gateway, listing, observed_at, plan: ReadPlan, row: dict | None) -> KeyReading:
    """The reads `plan` names; the versions also when the get shows a new current version
    (a rotation, or a key the inventory does not know)."""
    key = gateway.get_key(listing.name) if plan.key else None
    moved = key is not None and key.version != (row or {}).get("current_version")
    versions = None
    if plan.versions or moved:
        versions = tuple(gateway.list_key_versions(listing.name))
    policy = gateway.get_rotation_policy(listing.name) if plan.policy else None
    return KeyReading(
        listing,
        observed_at,
        key,
        versions,
        policy_read=plan.policy,
        policy=None if policy is None or policy.is_unset else policy.as_dict(),
    )


def _adopt_hsm_spelling(names: list[str]) -> None:
    """Rows named like `names` but in another case take the HSM's spelling, so the upsert on
    name finds them: Managed HSM names are case-insensitive, and a key purged as pay-orders
    may come back as Pay-Orders."""
    spelled = {name.lower(): name for name in names}
    for row in keys_named(names).exclude(name__in=names).only("pk", "name"):
        ManagedKey.objects.filter(pk=row.pk).update(name=spelled[row.name.lower()])


@transaction.atomic
def _apply_chunk(run, readings: list[KeyReading], teams: TeamResolver, ctx) -> None:
    names = [r.listing.name for r in readings]
    _adopt_hsm_spelling(names)
    stored = {k.name: k for k in ManagedKey.objects.select_for_update().filter(name__in=names)}
    rows, unchanged, versions, events, rotations = [], [], [], [], []
    for reading in readings:
        row = stored.get(reading.listing.name)
        if row and row.observed_at and row.observed_at > reading.observed_at:
            continue  # an execution recorded a fresher state while we were reading
        row = row or ManagedKey(name=reading.listing.name)
        run.keys_new += row.pk is None
        before = _content(row) if row.pk else None
        previous_version, applied = row.current_version, row.last_applied
        _observe_live(row, reading, teams)
        events += _reconcile(row, run, ctx)
        rotations += _hsm_rotation(row, previous_version, applied)
        (unchanged if before == _content(row) else rows).append(row)
        read = reading.versions if reading.versions is not None else (reading.key,)
        versions += [(row, v) for v in read if v is not None]
    _upsert_keys(rows, unchanged=unchanged)
    upsert_versions(versions)
    record_events(ctx, events + rotations)
    warn_rotated_by_hsm(
        [(e.target, e.before["version"], e.after["version"]) for e in rotations], now=timezone.now()
    )
    run.keys_seen += len(readings)
    run.drift_found += len(events)
    run.heartbeat_at = timezone.now()
    run.save(update_fields=["keys_seen", "keys_new", "drift_found", "heartbeat_at"])


def _observe_live(row: ManagedKey, reading: KeyReading, teams: TeamResolver) -> None:
    key = reading.key
    observe_live_key(row, team=teams.owner_of(row.name), listing=reading.listing, key=key)
    row.observed_at = reading.observed_at
    if reading.policy_read:
        row.rotation_policy = reading.policy
    if reading.versions is not None:
        default = key.created_on if key else row.current_version_created_on
        row.created_on = min(
            (v.created_on for v in reading.versions if v.created_on), default=default
        )
        row.version_count = len(reading.versions)
        current = next((v for v in reading.versions if v.version == row.current_version), None)
        version_created = current.created_on if current else default
        row.last_rotated_on = version_created if row.version_count > 1 else None
        set_rotation_due(row, version_created=version_created)
    elif key is not None:  # the same current version, its properties changed
        set_rotation_due(row, version_created=key.created_on)


def _reconcile(row: ManagedKey, run, ctx) -> list[EventSpec]:
    """Set drift fields; an audit event only when the drift is new or different."""
    reasons, baseline = drift.reconcile(observed_snapshot(row), row.last_applied)
    previous = list(row.drift_reasons or [])
    row.last_applied = baseline
    row.has_drift, row.drift_reasons = bool(reasons), reasons
    row.last_synced_at, row.sync_run = timezone.now(), run.pk
    if not reasons or reasons == previous:
        row.drift_detected_at = row.drift_detected_at if reasons else None
        return []
    row.drift_detected_at = timezone.now()
    return [drift_event(row, previous, reasons)]


def rotated_by_hsm(observed: dict, applied: dict | None, *, previous_version: str) -> bool:
    """True when `observed` (a `drift.snapshot`) shows a current version other than the one the
    inventory last mirrored (`previous_version`) and other than the one Keywarden last applied,
    while the key rotates by an HSM Rotate action (ROTATION.md §5): the policy Keywarden applied
    — exactly when `drift.reconcile` does not call the version drift — or, for a key Keywarden
    does not manage, the mirrored one."""
    current = observed["current_version"]
    if observed["state"] != KeyState.ACTIVE or current in ("", previous_version):
        return False
    if not previous_version or (applied and current == applied.get("current_version")):
        return False
    policy = applied.get("rotation_policy") if applied else observed["rotation_policy"]
    return drift.rotates_automatically(policy)


def _hsm_rotation(row: ManagedKey, previous_version: str, applied: dict | None) -> list:
    """`key.rotated_by_hsm` when the HSM's own Rotate action made the current version.

    The key page's timeline lists the event; `_apply_chunk` also warns the owners with it
    (ROTATION.md §4, keys.services.warnings.warn_rotated_by_hsm)."""
    observed = observed_snapshot(row)
    if not rotated_by_hsm(observed, applied, previous_version=previous_version):
        return []
    return [hsm_rotation_event(row, previous_version, row.current_version)]


def _content(row: ManagedKey) -> list:
    """The row's KEY_FIELDS but the read stamps: what a reading may change."""
    return copy.deepcopy([getattr(row, name) for name in CONTENT_ATTNAMES])


def _upsert_keys(rows: list[ManagedKey], *, unchanged: list[ManagedKey] = ()) -> None:
    """Write `rows` whole; of `unchanged` (saved rows a reading left as they were) only the read
    stamps, in one UPDATE (the earliest reading of them: an older stamp only makes the next sync
    read again sooner). Then judge them all (compliance moves with time)."""
    if rows:
        ManagedKey.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["name"], update_fields=KEY_FIELDS
        )
    if unchanged:
        ManagedKey.objects.filter(pk__in=[row.pk for row in unchanged]).update(
            observed_at=min(row.observed_at for row in unchanged),
            last_synced_at=min(row.last_synced_at for row in unchanged),
            sync_run=unchanged[0].sync_run,
        )
    if rows or unchanged:
        refresh_compliance(now=timezone.now(), keys=[*rows, *unchanged])


@transaction.atomic
def _apply_deleted_chunk(run, deleted: list, teams: TeamResolver, ctx) -> None:
    names = [d.name for d in deleted]
    _adopt_hsm_spelling(names)
    stored = {k.name: k for k in ManagedKey.objects.select_for_update().filter(name__in=names)}
    rows, events = [], []
    for item in deleted:
        row = stored.get(item.name) or ManagedKey(name=item.name, current_version=item.version)
        row.team, row.tags = teams.owner_of(row.name), item.tags
        observe_deleted_key(row, item)
        row.observed_at = timezone.now()
        events += _reconcile(row, run, ctx)
        rows.append(row)
    _upsert_keys(rows)
    record_events(ctx, events)
    run.keys_deleted += len(rows)
    run.drift_found += len(events)


@transaction.atomic
def _mark_purged(run, ctx) -> None:
    """Rows the complete listing did not show any more are gone from the HSM."""
    gone = (
        ManagedKey.objects.select_for_update()
        .exclude(state=KeyState.PURGED)
        .exclude(sync_run=run.pk)
        .filter(observed_at__lt=run.started_at)
    )
    rows, events = [], []
    for row in gone:
        row.state, row.observed_at = KeyState.PURGED, timezone.now()
        events += _reconcile(row, run, ctx)
        rows.append(row)
    _upsert_keys(rows)
    record_events(ctx, events)
    run.keys_purged = len(rows)
    run.drift_found += len(events)
