"""The audit trail's only writer (STYLE §6)."""

from __future__ import annotations

from typing import Any

from django.db import connections, router
from django.utils import timezone

from audit import chain
from audit.actions import Action
from audit.context import AuditContext
from audit.models import AuditEvent
from audit.targets import Target
from portal.models import Team

# pg_advisory_xact_lock key that serializes appends to the chain ("KWAUDIT" in ASCII).
CHAIN_LOCK_KEY = 0x4B_57_41_55_44_49_54


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
    connection = connections[router.db_for_write(AuditEvent)]
    if not connection.in_atomic_block:
        raise RuntimeError(
            "record_event() must run inside transaction.atomic(): an audit event is written "
            "in the same transaction as the change it records"
        )
    subject = Target.of(target)
    team = team if team is not None else _team_of(target)
    fields = {
        "actor_id": ctx.actor.pk if ctx.actor is not None else None,
        "actor_label": ctx.actor_label[:150],
        "actor_type": ctx.actor_type,
        "action": _known_action(action),
        "target_type": subject.type[:100],
        "target_id": subject.id[:64],
        "target_name": subject.name[:255],
        "team_id": team.pk if team is not None else None,
        "team_slug": team.slug if team is not None else "",
        "before": chain.canonical_data(before),
        "after": chain.canonical_data(after),
        "request_id": ctx.request_id[:64],
        "task_id": ctx.task_id[:128],
        "hsm_request_id": hsm_request_id[:128],
        "client_ip": ctx.ip[:45],
        "user_agent": ctx.user_agent[:512],
    }
    head_sequence, head_hash = _lock_chain_head(connection)
    occurred_at = timezone.now()  # taken under the lock: time never runs backwards in the chain
    fields.update(
        sequence=head_sequence + 1,
        occurred_at=chain.format_timestamp(occurred_at),
        prev_hash=head_hash,
    )
    event_hash = chain.compute_hash(fields)
    return AuditEvent.objects.create(**{**fields, "occurred_at": occurred_at, "hash": event_hash})


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
