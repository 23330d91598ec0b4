"""The audit trail's only writers (STYLE §6): one event, a batch of one actor's events, and the
signed checkpoints of the chain's head."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from accounts.models import Team
from audit import chain, checkpoints
from audit.actions import Action
from audit.chain_selectors import CHAIN_ROW_COLUMNS, verify_chain
from audit.context import AuditContext
from audit.models import AuditCheckpoint, AuditEvent
from audit.selectors import chain_head
from audit.targets import Target

# pg_advisory_xact_lock key that serializes sealing the chain ("KWAUDIT" in ASCII).
CHAIN_LOCK_KEY = 0x4B_57_41_55_44_49_54
BULK_INSERT_BATCH = 1000
SEAL_BATCH = 5000
# pg_advisory_xact_lock key that serializes checkpoint inserts ("KWCHECK" in ASCII).
CHECKPOINT_LOCK_KEY = 0x4B_57_43_48_45_43_4B


class ChainBroken(Exception):
    """The chain since the last checkpoint does not verify: no checkpoint is signed over it."""


@dataclass(frozen=True)
class EventSpec:
    """One event for `record_events`: the keyword arguments of `record_event`. The target is
    resolved when recorded, so it may be a row that is saved between building and recording."""

    action: Action | str
    target: Any
    team: Team | None = None
    before: Any = None
    after: Any = None
    hsm_request_id: str = ""


def record_event(
    ctx: AuditContext,
    action: Action | str,
    *,
    target: Any,
    team: Team | None = None,
    before: Any = None,
    after: Any = None,
    hsm_request_id: str = "",
) -> AuditEvent:
    """Record one event in the caller's transaction: it exists iff that commits.

    `target` is a saved model instance or a `Target`; `team` defaults to the target's team.
    `before`/`after` are stored (and hashed) in canonical JSON form (`chain.canonical_data`).
    On PostgreSQL the event is inserted unsealed, without any lock, and the sealer chains it
    after commit (`audit.sealer`, `seal_events`); on SQLite it is sealed as it is inserted.
    Raises RuntimeError outside `transaction.atomic()`, ValueError for an unknown action.
    """
    spec = EventSpec(action, target, team, before, after, hsm_request_id)
    return record_events(ctx, [spec])[0]


def record_events(ctx: AuditContext, events: Iterable[EventSpec]) -> list[AuditEvent]:
    """Record `events` in order, in ONE insert statement (up to `BULK_INSERT_BATCH` events),
    in the caller's transaction; they are sealed in this order, consecutively only if no other
    writer's events commit in between.

    Same contract as `record_event` (every spec is checked before anything is written);
    nothing is written for an empty batch. PostgreSQL: no lock is taken, no row read and
    nothing sealed here, so writers never wait for each other or for the chain; the sealer
    (`audit.sealer`) finds them once committed and chains them.
    SQLite: its write lock (BEGIN IMMEDIATE) already serializes writers, so the events are
    sealed as they are inserted."""
    connection = connections[router.db_for_write(AuditEvent)]
    if not connection.in_atomic_block:
        raise RuntimeError(
            "record_event() and record_events() must run inside transaction.atomic(): an audit "
            "event is written in the same transaction as the change it records"
        )
    prepared = [_fields(ctx, spec) for spec in events]
    if not prepared:
        return []
    occurred_at = timezone.now()
    if connection.vendor != "postgresql":
        return _insert_sealed(prepared, occurred_at)
    rows = [AuditEvent(**fields, occurred_at=occurred_at) for fields in prepared]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), BULK_INSERT_BATCH):
            _insert_unsealed(cursor, connection, rows[start : start + BULK_INSERT_BATCH])
    return rows


# The columns a writer fills; `id` comes back, the three sealed columns stay NULL.
_INSERT_FIELDS = tuple(
    field
    for field in AuditEvent._meta.concrete_fields
    if field.column not in {"id", "sequence", "prev_hash", "hash"}
)
_INSERT_COLUMNS = ", ".join(field.column for field in _INSERT_FIELDS)
_INSERT_ROW = "(" + ", ".join(["%s"] * len(_INSERT_FIELDS)) + ")"


def _insert_unsealed(cursor, connection, rows: list[AuditEvent]) -> None:
    """One statement, the rows. No NOTIFY for the sealer: PostgreSQL serialises the commits of
    all notifying transactions (the notify queue's lock is held through the commit's WAL
    flush), which held 8 writers to about a third of bare INSERT+COMMIT; the sealer looks for
    unsealed rows instead (`audit.sealer`)."""
    params = [
        field.get_db_prep_save(getattr(row, field.attname), connection)
        for row in rows
        for field in _INSERT_FIELDS
    ]
    cursor.execute(
        f"INSERT INTO audit_auditevent ({_INSERT_COLUMNS}) VALUES "  # noqa: S608 - constants
        f"{', '.join([_INSERT_ROW] * len(rows))} RETURNING id",
        params,
    )
    for row, (pk,) in zip(rows, cursor.fetchall(), strict=True):
        row.pk = pk
        row._state.adding, row._state.db = False, connection.alias


def _insert_sealed(prepared: list[dict[str, Any]], occurred_at: datetime) -> list[AuditEvent]:
    """SQLite: sequence and hash computed at insert, under the database's write lock."""
    head = AuditEvent.objects.filter(sequence__isnull=False).order_by("-sequence")
    head_sequence, head_hash = head.values_list("sequence", "hash").first() or (
        0,
        chain.GENESIS_HASH,
    )
    rows = []
    for sequence, fields in enumerate(prepared, start=head_sequence + 1):
        fields.update(
            sequence=sequence, occurred_at=chain.format_timestamp(occurred_at), prev_hash=head_hash
        )
        head_hash = chain.compute_hash(fields)
        rows.append(AuditEvent(**{**fields, "occurred_at": occurred_at, "hash": head_hash}))
    return AuditEvent.objects.bulk_create(rows, batch_size=BULK_INSERT_BATCH)


def seal_events(*, wait: bool = True, batch_size: int = SEAL_BATCH, max_batches: int = 1000) -> int:
    """Seal committed unsealed events into the chain, in insertion (`id`) order: each gets the
    next `sequence`, `prev_hash` (the previous event's hash) and its `hash`; returns how many.

    One sealer at a time, under the chain's advisory lock: `wait=False` returns at once when
    another session holds it (the beat backstop: a sealer is at work), `wait=True` queues
    behind that batch (the sealer's loop, tests). A batch is one read (head and rows) and one
    UPDATE, which is atomic by itself. Outside a transaction the lock is the session's,
    released after each batch; then the backlog is looked at again, so an event committed
    during a batch is sealed by the holder's next round. Inside one, the lock lasts until it
    ends (a seal there commits or rolls back with it). PostgreSQL only (SQLite seals at
    insert): 0."""
    connection = connections[router.db_for_write(AuditEvent)]
    if connection.vendor != "postgresql":
        return 0
    in_transaction = connection.in_atomic_block
    lock = "pg_advisory_xact_lock" if in_transaction else "pg_advisory_lock"
    if not wait:
        lock = lock.replace("pg_advisory", "pg_try_advisory")
    sealed = 0
    with connection.cursor() as cursor:
        for _ in range(max_batches):
            cursor.execute(f"SELECT {lock}(%s)", [CHAIN_LOCK_KEY])
            if not wait and not cursor.fetchone()[0]:
                break
            try:
                count = _seal_batch(cursor, batch_size)
            finally:
                if not in_transaction:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [CHAIN_LOCK_KEY])
            sealed += count
            if count < batch_size and (in_transaction or not has_unsealed(cursor)):
                break
    return sealed


def has_unsealed(cursor) -> bool:
    cursor.execute("SELECT EXISTS (SELECT 1 FROM audit_auditevent WHERE sequence IS NULL)")
    return cursor.fetchone()[0]


# The oldest unsealed events and, on each row, the chain's head (none: genesis).
_UNSEALED_SQL = (
    f"SELECT {CHAIN_ROW_COLUMNS}, id, head_sequence, head_hash "  # noqa: S608 - constant columns
    "FROM audit_auditevent LEFT JOIN LATERAL (SELECT sequence AS head_sequence, "
    "hash AS head_hash FROM audit_auditevent WHERE sequence IS NOT NULL "
    "ORDER BY sequence DESC LIMIT 1) AS head ON true "
    "WHERE audit_auditevent.sequence IS NULL ORDER BY id LIMIT %s"
)


def _seal_batch(cursor, batch_size: int) -> int:
    """Under the chain lock: up to `batch_size` unsealed events chained after the head."""
    cursor.execute(_UNSEALED_SQL, [batch_size])
    rows = cursor.fetchall()
    if not rows:
        return 0
    head_sequence, head_hash = rows[0][-2] or 0, rows[0][-1] or chain.GENESIS_HASH
    ids, sequences, links, hashes = [], [], [], []
    canonical = chain.JsonCanonicalizer()
    for sequence, row in enumerate(rows, start=head_sequence + 1):
        values = list(row[: len(chain.ROW_FIELDS)])
        values[chain.ROW_SEQUENCE], values[chain.ROW_PREV_HASH] = sequence, head_hash
        ids.append(row[len(chain.ROW_FIELDS)])
        sequences.append(sequence)
        links.append(head_hash)
        head_hash = hashlib.sha256(chain.row_bytes(values, canonical)).hexdigest()
        hashes.append(head_hash)
    # One statement: all of the batch or (an error, e.g. a duplicate sequence) none of it.
    cursor.execute(
        "UPDATE audit_auditevent AS event SET sequence = sealed.sequence, "
        "prev_hash = sealed.prev_hash, hash = sealed.hash "
        "FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::text[]) "
        "AS sealed(id, sequence, prev_hash, hash) "
        "WHERE event.id = sealed.id AND event.sequence IS NULL",
        [ids, sequences, links, hashes],
    )
    if cursor.rowcount != len(ids):  # under the lock nobody else seals: never expected
        raise RuntimeError(f"sealed {cursor.rowcount} of {len(ids)} audit events")
    return len(ids)


def _fields(ctx: AuditContext, spec: EventSpec) -> dict[str, Any]:
    """The hashed fields of one event except sequence, time and link, cut to column sizes."""
    subject = Target.of(spec.target)
    team = spec.team if spec.team is not None else _team_of(spec.target)
    return {
        "actor_id": ctx.actor.pk if ctx.actor is not None else None,
        "actor_label": ctx.actor_label[:150],
        "actor_type": ctx.actor_type,
        "action": _known_action(spec.action),
        "target_type": subject.type[:100],
        "target_id": subject.id[:64],
        "target_name": subject.name[:255],
        "team_id": team.pk if team is not None else None,
        "team_slug": team.slug if team is not None else "",
        "before": chain.canonical_data(spec.before),
        "after": chain.canonical_data(spec.after),
        "request_id": ctx.request_id[:64],
        "task_id": ctx.task_id[:128],
        "hsm_request_id": spec.hsm_request_id[:128],
        "client_ip": ctx.ip[:45],
        "user_agent": ctx.user_agent[:512],
    }


def _known_action(action: Action | str) -> str:
    try:
        return Action(action).value
    except ValueError:
        raise ValueError(
            f"unknown audit action {action!r}: add it to audit.actions.Action first"
        ) from None


def _team_of(target: Any) -> Team | None:
    """A Team audits as its own team; other models by their `team` attribute, if any."""
    if isinstance(target, Team):
        return target
    team = getattr(target, "team", None)
    return team if isinstance(team, Team) else None


def record_checkpoint(
    *,
    sign: checkpoints.Signer,
    now: datetime,
    every_events: int,
    every_seconds: int,
    file_path: str = "",
    force: bool = False,
) -> AuditCheckpoint | None:
    """Sign and store a checkpoint of the chain's head when one is due: `every_events` events or
    `every_seconds` after the last checkpoint (`force`: whenever the head moved); after commit,
    also append it to `file_path`. None when none is due, or a concurrent run stored one first:
    one checkpoint per head, whoever runs. No lock is held while `sign` (the HSM) works.

    Raises ChainBroken when the events since the last checkpoint do not verify; errors of `sign`
    pass through. Call outside a transaction (it opens a short one to insert)."""
    last = AuditCheckpoint.objects.order_by("-number").first()
    head = chain_head()  # sealed events only: a checkpoint vouches for the chain
    if head is None and last is not None:
        raise ChainBroken(
            f"the table holds no events in the chain, but checkpoint {last.number} covers some"
        )
    if head is None or not _checkpoint_due(last, head[0], now, every_events, every_seconds, force):
        return None
    _verify_since(last, head)
    record = {
        "number": last.number + 1 if last else 1,
        "head_sequence": head[0],
        "head_hash": head[1],
        "signed_at": chain.format_timestamp(now),
    }
    signature = sign(checkpoints.statement_digest(**record))
    record.update(
        key_id=signature.key_id,
        algorithm=signature.algorithm,
        signature=checkpoints.encode_signature(signature.value),
    )
    with transaction.atomic(using=router.db_for_write(AuditCheckpoint)):
        connection = connections[router.db_for_write(AuditCheckpoint)]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHECKPOINT_LOCK_KEY])
        latest = AuditCheckpoint.objects.order_by("-number").values_list("number", flat=True)
        if latest.first() != (last.number if last else None):
            return None  # a concurrent run signed first; its checkpoint covers this head or later
        checkpoint = AuditCheckpoint.objects.create(**{**record, "signed_at": now})
        if file_path:
            transaction.on_commit(partial(checkpoints.append_to_file, file_path, record))
    return checkpoint


def _checkpoint_due(
    last: AuditCheckpoint | None,
    head_sequence: int,
    now: datetime,
    every_events: int,
    every_seconds: int,
    force: bool,
) -> bool:
    if last is None:
        return True
    if head_sequence <= last.head_sequence:
        return head_sequence < last.head_sequence  # behind: _verify_since refuses it loudly
    return (
        force
        or head_sequence - last.head_sequence >= every_events
        or now - last.signed_at >= timedelta(seconds=every_seconds)
    )


def _verify_since(last: AuditCheckpoint | None, head: tuple[int, str]) -> None:
    """Check every event after the last checkpoint up to `head`, linked to that checkpoint."""
    start = (last.head_sequence, last.head_hash) if last else (0, chain.GENESIS_HASH)
    if head[0] < start[0]:
        raise ChainBroken(
            f"the chain ends at event #{head[0]}, behind checkpoint {last.number} at #{start[0]}"
        )
    report = verify_chain(after=start, up_to=head[0])
    broken = report.first_broken
    if broken is not None:
        raise ChainBroken(f"event #{broken.sequence}: {broken.reason} ({broken.detail})")
