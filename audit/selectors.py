"""Read-side queries of the audit trail: what a user may see, and the chain's verification."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from django.db.models import Q, QuerySet

from audit import chain
from audit.models import AuditEvent
from portal.models import User
from portal.roles import Role
from portal.selectors import teams_of

# What a custodian may act on: change requests and keys, of every team.
CUSTODIAN_TARGET_TYPES = ("approvals.changerequest", "keys.managedkey")
_SEES_EVERY_EVENT = frozenset({Role.ADMIN, Role.AUDITOR})


def events_visible_to(user: User) -> QuerySet[AuditEvent]:
    """Events the user may read: all for auditors and admins; otherwise their teams' events,
    plus, for custodians, every event about a change request or a key. Others see none."""
    if user.roles & _SEES_EVERY_EVENT:
        return AuditEvent.objects.all()
    scope = Q(team__in=teams_of(user).values("pk"))
    if Role.CUSTODIAN in user.roles:
        scope |= Q(target_type__in=CUSTODIAN_TARGET_TYPES)
    return AuditEvent.objects.filter(scope)


def events_in_chain_order(queryset: QuerySet[AuditEvent], *, chunk_size: int) -> Iterator[tuple]:
    """Rows of `queryset` in `chain.RECORD_FIELDS` order by sequence, streamed (server-side
    cursor on PostgreSQL) in constant memory: no model instances."""
    rows = queryset.order_by("sequence").values_list(*chain.RECORD_FIELDS)
    return rows.iterator(chunk_size=chunk_size)


def verify_chain(
    *, chunk_size: int = 5000, on_progress: Callable[[int], None] | None = None
) -> chain.ChainReport:
    """Walk the whole chain, recompute every hash and check sequence and links.

    Reads one consistent snapshot (events appended meanwhile are not included); `on_progress`
    gets the number of events read since its previous call, once per chunk."""
    rows = events_in_chain_order(AuditEvent.objects.all(), chunk_size=chunk_size)
    if on_progress is not None:
        rows = _reporting(rows, on_progress, every=chunk_size)
    return chain.verify_pairs(chain.pairs_from_rows(rows))


def _reporting(rows: Iterator[tuple], on_progress: Callable[[int], None], *, every: int):
    count = 0
    for count, row in enumerate(rows, start=1):
        yield row
        if count % every == 0:
            on_progress(every)
    if count % every:
        on_progress(count % every)
