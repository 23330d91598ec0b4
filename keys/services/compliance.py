"""Rotation compliance on the key rows: judged in bulk (`refresh_compliance`) after every sync,
execution record and standard change, and daily; and the audited edit of a standard."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from django.db import connections, transaction
from django.db.models import Q, QuerySet

from accounts.models import Team, User
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from core.durations import (
    DURATION_MESSAGE,
    DURATION_PATTERN,
    MAX_DURATION_DAYS,
    TOO_LONG_MESSAGE,
    approximate_days,
)
from core.errors import Invalid, NotAllowed
from core.identifiers import full_match
from keys.compliance import compliance_of, parse_duration
from keys.models import ROTATION_CLASS_TAG, ManagedKey, RotationSchedule, RotationStandard
from keys.permissions import can_edit_rotation_standard
from keys.selectors import rotation_classes
from keys.services.mirror import rotation_class_of

BATCH_SIZE = 500
# What a refresh writes: the class the key resolves to and the verdict on it.
COMPLIANCE_FIELDS = (
    "rotation_class",
    "compliance_state",
    "compliance_due_on",
    "compliance_mechanism",
    "compliance_reason",
)


@dataclass(frozen=True)
class StandardBook:
    """Every standard and team default class, read once per refresh (two queries)."""

    standards: dict[tuple[str, int | None], RotationStandard]
    team_defaults: dict[int, str]
    classes: frozenset[str]

    @classmethod
    def load(
        cls,
        *,
        teams: Iterable[Team] | None = None,
        stored: Iterable[RotationStandard] | None = None,
    ) -> StandardBook:
        """`teams`: judge only keys of these (already loaded) teams, one query fewer;
        `stored`: the stored standards, already read (one query fewer again)."""
        stored = RotationStandard.objects.all() if stored is None else stored
        rows = [*RotationStandard.seeded(), *stored]
        standards = {(s.key_class, s.team_id): s for s in rows}  # a stored row wins
        teams = (
            dict(Team.objects.values_list("pk", "default_rotation_class"))
            if teams is None
            else {team.pk: team.default_rotation_class for team in teams}
        )
        classes = frozenset(key_class for key_class, team in standards if team is None)
        return cls(standards, teams, classes)

    def standard_for(self, row: ManagedKey) -> RotationStandard:
        """The standard of the row's class as it resolves now (sets `row.rotation_class`)."""
        row.rotation_class = rotation_class_of(
            row.tags, team_default=self.team_defaults.get(row.team_id), known=self.classes
        )
        return (
            self.standards.get((row.rotation_class, row.team_id))
            or self.standards[(row.rotation_class, None)]
        )

    def judge(self, row: ManagedKey, schedule: RotationSchedule | None, now: datetime) -> None:
        """Set the row's class and compliance fields (no I/O)."""
        verdict = compliance_of(row, self.standard_for(row), schedule, now)
        row.compliance_state, row.compliance_due_on = verdict.state, verdict.due_on
        row.compliance_mechanism, row.compliance_reason = verdict.mechanism, verdict.reason


def _changed(row: ManagedKey, before: tuple) -> bool:
    return before != tuple(getattr(row, name) for name in COMPLIANCE_FIELDS)


def _store(rows: list[ManagedKey], book: StandardBook, now: datetime) -> int:
    """Judge `rows` (one query for their schedules) and write those whose verdict changed in
    one UPDATE."""
    schedules = {s.key_id: s for s in RotationSchedule.objects.filter(key__in=rows)}
    changed = []
    for row in rows:
        before = tuple(getattr(row, name) for name in COMPLIANCE_FIELDS)
        book.judge(row, schedules.get(row.pk), now)
        if _changed(row, before):
            changed.append(row)
    if changed:
        _write(changed)
    return len(changed)


def _write(rows: list[ManagedKey]) -> None:
    """One UPDATE for the batch. On PostgreSQL from arrays (unnest): Django's bulk_update
    builds a CASE per field whose cost grows with the square of the batch."""
    connection = connections[ManagedKey.objects.db]
    if connection.vendor != "postgresql":  # the SQLite demo
        ManagedKey.objects.bulk_update(rows, COMPLIANCE_FIELDS, batch_size=BATCH_SIZE)
        return
    meta = ManagedKey._meta
    columns = [meta.get_field(name).column for name in COMPLIANCE_FIELDS]
    types = ["text", "text", "timestamptz", "text", "text"]
    assignments = ", ".join(f"{column} = batch.{column}" for column in columns)
    arrays = ", ".join(f"%s::{kind}[]" for kind in ["bigint", *types])
    # Identifiers from the model's own meta, values as parameters: nothing from outside.
    sql = (
        f"UPDATE {meta.db_table} SET {assignments} FROM unnest({arrays}) "  # noqa: S608
        f"AS batch(pk, {', '.join(columns)}) WHERE {meta.db_table}.{meta.pk.column} = batch.pk"
    )
    values = [[row.pk for row in rows]]
    values += [[getattr(row, name) for row in rows] for name in COMPLIANCE_FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


def _locked_batches(keys: QuerySet[ManagedKey]) -> Iterator[list[ManagedKey]]:
    """Batches of `keys` by primary key, each locked for its own short transaction. A row
    someone else holds is skipped: its writer (sync or execution record) refreshes it."""
    last_pk = 0
    while True:
        with transaction.atomic():
            batch = list(
                keys.filter(pk__gt=last_pk)
                .order_by("pk")
                .select_for_update(skip_locked=True)[:BATCH_SIZE]
            )
            if not batch:
                return
            yield batch
        last_pk = batch[-1].pk


def refresh_compliance(
    *, now: datetime, keys: QuerySet[ManagedKey] | Iterable[ManagedKey] | None = None
) -> int:
    """Judge `keys` (saved rows, e.g. locked by the caller's transaction; a queryset; None: every
    key) against their class's standard and store the verdicts. Two queries for the standards,
    then per batch of BATCH_SIZE one SELECT (querysets only) and at most one UPDATE. Returns
    how many rows changed."""
    book = StandardBook.load()
    if keys is None:
        keys = ManagedKey.objects.all()
    if isinstance(keys, QuerySet):
        batches: Iterable[list[ManagedKey]] = _locked_batches(keys)
    else:
        iterator = iter(keys)
        batches = iter(lambda: list(islice(iterator, BATCH_SIZE)), [])
    return sum(_store(batch, book, now) for batch in batches)


def forecast_compliance(
    *, now: datetime, team: str | None = None, next_runs: dict[int, datetime] | None = None
) -> list[tuple[ManagedKey, str]]:
    """Every key (of `team`, by slug) judged at `now` without storing anything, with the
    state it has stored: (row with the verdict at `now` set, stored state). `next_runs` moves
    schedules (by id) as the jobs would before judging. Four queries."""
    book = StandardBook.load()
    keys = ManagedKey.objects.select_related("team").order_by("name")
    if team:
        keys = keys.filter(team__slug=team)
    rows = list(keys)
    schedules = {s.key_id: s for s in RotationSchedule.objects.filter(key__in=keys)}
    for schedule in schedules.values():
        schedule.next_run_on = (next_runs or {}).get(schedule.pk, schedule.next_run_on)
    judged = []
    for row in rows:
        stored = row.compliance_state
        book.judge(row, schedules.get(row.pk), now)
        judged.append((row, stored))
    return judged


def _duration_problems(max_age: str, warn_before: str, now: datetime) -> dict[str, list[str]]:
    problems = {}
    for name, value in (("max_age", max_age), ("warn_before", warn_before)):
        if not full_match(DURATION_PATTERN, value):
            problems[name] = [DURATION_MESSAGE]
        elif approximate_days(value) > MAX_DURATION_DAYS:
            problems[name] = [TOO_LONG_MESSAGE]
    if not problems and now + parse_duration(warn_before) >= now + parse_duration(max_age):
        problems["warn_before"] = ["Must be shorter than max_age."]
    return problems


def _keys_of_class(key_class: str, team: Team | None) -> QuerySet[ManagedKey]:
    """Keys a change of this standard may re-judge: of the class now, or tagged with it."""
    keys = ManagedKey.objects.filter(
        Q(rotation_class=key_class) | Q(tags__contains={ROTATION_CLASS_TAG: key_class})
    )
    return keys.filter(team=team) if team else keys


@transaction.atomic
def update_rotation_standard(
    *,
    key_class: str,
    max_age: str,
    warn_before: str,
    admin: User,
    ctx: AuditContext,
    now: datetime,
    team: Team | None = None,
) -> RotationStandard:
    """Create or change a class's standard (`team`: that team's override of an existing class),
    audited with before/after, and re-judge the keys it applies to. Admins only. Raises
    NotAllowed, Invalid."""
    decision = can_edit_rotation_standard(admin)
    if not decision:
        raise NotAllowed(decision.reason)
    problems = _duration_problems(max_age, warn_before, now)
    if team is not None and key_class not in rotation_classes():
        problems["key_class"] = [f"No rotation class {key_class!r} to override."]
    if problems:
        raise Invalid(problems, "The rotation standard is not valid.")
    standard, created = RotationStandard.objects.select_for_update().get_or_create(
        key_class=key_class,
        team=team,
        defaults={"max_age": max_age, "warn_before": warn_before, "updated_at": now},
    )
    before = None if created else {"max_age": standard.max_age, "warn_before": standard.warn_before}
    standard.max_age, standard.warn_before, standard.updated_at = max_age, warn_before, now
    standard.save()
    record_event(
        ctx,
        Action.ROTATION_STANDARD_UPDATED,
        target=standard,
        team=team,
        before=before,
        after={"key_class": key_class, "max_age": max_age, "warn_before": warn_before},
    )
    refresh_compliance(now=now, keys=_keys_of_class(key_class, team))
    return standard
