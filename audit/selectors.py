"""Read-side queries of the audit trail: what a user may see, canonical rows, verification."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from django.db import connections
from django.db.models import Func, Q, QuerySet, TextField
from django.db.models.functions import Cast

from accounts.models import User
from accounts.roles import AUDIT_READ_ALL_ROLES, AUDIT_READ_REQUESTS_AND_KEYS_ROLES
from accounts.selectors import teams_of
from audit import chain
from audit.models import AuditEvent

# What a custodian may act on: change requests and keys, of every team.
CUSTODIAN_TARGET_TYPES = ("approvals.changerequest", "keys.managedkey")


class CanonicalTimestamp(Func):
    """PostgreSQL renders a timestamptz exactly as `chain.format_timestamp` does: it is faster
    than parsing a datetime in Python only to format it again."""

    template = (
        """to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
    )
    output_field = TextField()


def events_visible_to(user: User) -> QuerySet[AuditEvent]:
    """Events the user may read: all for auditors and admins; otherwise their teams' events,
    plus, for custodians, every event about a change request or a key. Others see none."""
    if user.roles & AUDIT_READ_ALL_ROLES:
        return AuditEvent.objects.all()
    scope = Q(team__in=teams_of(user).values("pk"))
    if user.roles & AUDIT_READ_REQUESTS_AND_KEYS_ROLES:
        scope |= Q(target_type__in=CUSTODIAN_TARGET_TYPES)
    return AuditEvent.objects.filter(scope)


def canonical_records(queryset: QuerySet[AuditEvent], *, chunk_size: int) -> Iterator[dict]:
    """Events of `queryset` by sequence as records (`chain.RECORD_FIELDS` → canonical values:
    timestamp text, parsed JSON), streamed in constant memory: a server-side cursor on
    PostgreSQL, no model instances, no per-field converters (this loop bounds verification)."""
    on_postgresql = connections[queryset.db].vendor == "postgresql"
    columns = {name: name for name in chain.RECORD_FIELDS}
    annotations = {"_before": Cast("before", TextField()), "_after": Cast("after", TextField())}
    columns.update(before="_before", after="_after")
    if on_postgresql:
        annotations["_occurred_at"] = CanonicalTimestamp("occurred_at")
        columns["occurred_at"] = "_occurred_at"
    rows = (
        queryset.order_by("sequence")
        .annotate(**annotations)
        .values_list(*columns.values())
        .iterator(chunk_size=chunk_size)
    )
    loads, format_timestamp, names = json.loads, chain.format_timestamp, chain.RECORD_FIELDS
    for row in rows:
        record = dict(zip(names, row, strict=True))
        if not on_postgresql:
            record["occurred_at"] = format_timestamp(record["occurred_at"])
        if record["before"] is not None:
            record["before"] = loads(record["before"])
        if record["after"] is not None:
            record["after"] = loads(record["after"])
        yield record


def verify_chain(
    *, chunk_size: int = 5000, on_progress: Callable[[int], None] | None = None
) -> chain.ChainReport:
    """Walk the whole chain, recompute every hash and check sequence and links.

    Reads one consistent snapshot (events appended meanwhile are not included); `on_progress`
    gets the number of events read since its previous call, once per chunk."""
    records = canonical_records(AuditEvent.objects.all(), chunk_size=chunk_size)
    if on_progress is not None:
        records = _reporting(records, on_progress, every=chunk_size)
    # The records are this generator's own: popping the hash leaves exactly the hashed fields.
    return chain.verify_pairs((record, record.pop("hash")) for record in records)


def _reporting(records: Iterator[dict], on_progress: Callable[[int], None], *, every: int):
    count = 0
    for count, record in enumerate(records, start=1):
        yield record
        if count % every == 0:
            on_progress(every)
    if count % every:
        on_progress(count % every)
