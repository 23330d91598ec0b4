"""The audit trail's only writers (STYLE §6): one event, or a batch of one actor's events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.utils import timezone

from accounts.models import Team
from audit import chain
from audit.actions import Action
from audit.context import AuditContext
from audit.models import AuditEvent
from audit.targets import Target

# pg_advisory_xact_lock key that serializes appends to the chain ("KWAUDIT" in ASCII).
CHAIN_LOCK_KEY = 0x4B_57_41_55_44_49_54
BULK_INSERT_BATCH = 1000


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
    """Append one event to the chain, in the caller's transaction: it exists iff that commits.

    `target` is a saved model instance or a `Target`; `team` defaults to the target's team.
    `before`/`after` are stored (and hashed) in canonical JSON form (`chain.canonical_data`).
    Concurrent callers queue on one lock until their transaction ends, so call it late.
    Raises RuntimeError outside `transaction.atomic()`, ValueError for an unknown action.
    """
    spec = EventSpec(action, target, team, before, after, hsm_request_id)
    return record_events(ctx, [spec])[0]


def record_events(ctx: AuditContext, events: Iterable[EventSpec]) -> list[AuditEvent]:
    """Append `events` in order, with consecutive sequence numbers, in one bulk insert.

    Same contract as `record_event` (every spec is checked before anything is written);
    nothing is locked or written for an empty batch."""
    connection = connections[router.db_for_write(AuditEvent)]
    if not connection.in_atomic_block:
        raise RuntimeError(
            "record_event() and record_events() must run inside transaction.atomic(): an audit "
            "event is written in the same transaction as the change it records"
        )
    prepared = [_fields(ctx, spec) for spec in events]
    if not prepared:
        return []
    head_sequence, head_hash = _lock_chain_head(connection)
    occurred_at = timezone.now()  # taken under the lock: time never runs backwards in the chain
    rows = []
    for sequence, fields in enumerate(prepared, start=head_sequence + 1):
        fields.update(
            sequence=sequence, occurred_at=chain.format_timestamp(occurred_at), prev_hash=head_hash
        )
        head_hash = chain.compute_hash(fields)
        rows.append(AuditEvent(**{**fields, "occurred_at": occurred_at, "hash": head_hash}))
    return AuditEvent.objects.bulk_create(rows, batch_size=BULK_INSERT_BATCH)


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


def _lock_chain_head(connection) -> tuple[int, str]:
    """Wait for the chain lock, then read the head (0 and the genesis hash when empty).

    PostgreSQL: a transaction-scoped advisory lock, released at commit or rollback; in READ
    COMMITTED the head read after it sees the previous holder's committed event. SQLite: the
    write lock taken at BEGIN (transaction_mode IMMEDIATE) already serializes writers."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
    head = AuditEvent.objects.order_by("-sequence").values_list("sequence", "hash").first()
    return head if head is not None else (0, chain.GENESIS_HASH)
