"""Running the portal's rotation schedules (ROTATION.md §3): each due run opens a key.rotate
request (approved at birth under a standing schedule, pending for custodians under each_time),
and a succeeded run's previous version is disabled `retire_previous_after` later. Runs go
through the one execution path; the scheduler only opens requests.

`plan_schedule_work` says what is due at `now` without doing it; `run_rotation_schedules` does
it, each schedule in a short transaction of its own that claims the row (SKIP LOCKED) and
moves it on before commit: running late, twice or concurrently opens each run once."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet

from approvals.models import ChangeRequest, Operation, State
from approvals.payload import payload_hash_of
from approvals.services.submit import open_schedule_run
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from core.errors import Conflict, Invalid
from keys.compliance import parse_duration
from keys.models import KeyState, RotationSchedule, ScheduleMode
from keys.schedules import run_after, window_of
from keys.services.compliance import refresh_compliance

logger = logging.getLogger(__name__)

ROTATE, OPEN, RETIRE, MISSED, REFUSED = (
    "rotate",  # a standing run: a key.rotate request approved at birth
    "open_for_approval",  # an each_time run: a pending key.rotate request
    "retire_previous",  # a key.disable_version request for the version a run replaced
    "window_missed",  # due, but the window closed before the job ran: moved to the next one
    "refused",  # the request that set the schedule no longer matches its hash: it ends
)


@dataclass(frozen=True)
class Work:
    """One thing a schedule needs done at `now`."""

    kind: str
    key: str
    team: str
    due_on: datetime
    detail: str
    schedule_id: int = 0
    version: str = ""
    next_run_on: datetime | None = None  # where the schedule moves when this is done

    def as_dict(self) -> dict:
        moved = self.next_run_on.isoformat() if self.next_run_on else None
        return {**asdict(self), "due_on": self.due_on.isoformat(), "next_run_on": moved}


def each_time_lead() -> timedelta:
    """How long before an each_time run's window the request opens for custodians."""
    return timedelta(hours=settings.SCHEDULE_EACH_TIME_LEAD_HOURS)


def _candidates(now: datetime, team: str | None) -> QuerySet[RotationSchedule]:
    due = Q(mode=ScheduleMode.STANDING, next_run_on__lte=now) | Q(
        mode=ScheduleMode.EACH_TIME, next_run_on__lte=now + each_time_lead()
    )
    retiring = ~Q(retire_previous_after="") & Q(last_run_request__isnull=False)
    retiring &= Q(retired_for_run__isnull=True) | ~Q(retired_for_run=F("last_run_request"))
    schedules = RotationSchedule.objects.filter(due | retiring, key__state=KeyState.ACTIVE)
    if team:
        schedules = schedules.filter(key__team__slug=team)
    return schedules.select_related("key__team").order_by("next_run_on", "pk")


def _runs_of(schedules: list[RotationSchedule]) -> dict:
    """The last run request of each schedule that retires versions (one query)."""
    ids = [s.last_run_request for s in schedules if s.retire_previous_after and s.last_run_request]
    return {run.pk: run for run in ChangeRequest.objects.filter(pk__in=ids)} if ids else {}


def _work_for(schedule: RotationSchedule, runs: dict, now: datetime) -> list[Work]:
    """What `schedule` needs at `now` (no I/O)."""
    key, work = schedule.key, []
    team = key.team.slug if key.team else ""

    def item(kind: str, due_on: datetime, detail: str, version: str = "", moved=None) -> Work:
        return Work(kind, key.name, team, due_on, detail, schedule.pk, version, moved)

    run = runs.get(schedule.last_run_request)
    if (
        run is not None
        and run.pk != schedule.retired_for_run
        and run.state == State.SUCCEEDED
        and run.operation == Operation.KEY_ROTATE
    ):
        retire_on = run.finished_at + parse_duration(schedule.retire_previous_after)
        previous = (run.result or {}).get("previous_version", "")
        if retire_on <= now and previous:
            work.append(item(RETIRE, retire_on, f"disable version {previous}", previous))
    due, window = schedule.next_run_on, window_of(schedule)
    following = run_after(due=due, cadence=schedule.cadence, window=window, now=now)
    if schedule.mode == ScheduleMode.EACH_TIME and due - each_time_lead() <= now:
        opened = f"open a key.rotate request for the run due {due:%Y-%m-%d %H:%M}"
        work.append(item(OPEN, due, opened, moved=following))
    elif schedule.mode == ScheduleMode.STANDING and due <= now:
        if window.contains(now):
            standing = "rotate under the schedule's standing approval"
            work.append(item(ROTATE, due, standing, moved=following))
        else:
            nxt = window.first_moment_from(now)
            closed = f"window closed; next run {nxt:%Y-%m-%d %H:%M}"
            work.append(item(MISSED, due, closed, moved=nxt))
    return work


def plan_schedule_work(*, now: datetime, team: str | None = None) -> list[Work]:
    """Everything the schedules need at `now`, without doing any of it (three queries)."""
    schedules = list(_candidates(now, team))
    runs = _runs_of(schedules)
    return [work for schedule in schedules for work in _work_for(schedule, runs, now)]


def run_rotation_schedules(*, now: datetime, ctx: AuditContext) -> list[Work]:
    """Do what `plan_schedule_work` lists; returns what was done (work another job did first,
    or that a still-open request on the key holds back until the next run, is left out)."""
    done = []
    for schedule_id in {work.schedule_id: None for work in plan_schedule_work(now=now)}:
        with transaction.atomic():
            schedule = (
                RotationSchedule.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("key__team")
                .filter(pk=schedule_id)
                .first()
            )
            if schedule is None:
                continue  # another job holds it
            for work in _work_for(schedule, _runs_of([schedule]), now):
                if _do(work, schedule, now, ctx):
                    done.append(work)
    return done


def _standing_approval(schedule: RotationSchedule) -> ChangeRequest | None:
    """The request that set the schedule, when it still hashes to what was approved."""
    parent = ChangeRequest.objects.select_related("team").filter(pk=schedule.approved_by).first()
    if (
        parent is None
        or parent.state not in (State.SUCCEEDED, State.FAILED)  # FAILED: a partial bulk
        or parent.payload_hash != schedule.approved_payload_hash
        or payload_hash_of(parent) != parent.payload_hash
    ):
        return None
    return parent


def _do(work: Work, schedule: RotationSchedule, now: datetime, ctx: AuditContext) -> bool:
    """Carry out one item on the locked schedule row; False when it must wait for a later
    job (another request on the key is open)."""
    if work.kind == MISSED:
        schedule.next_run_on = work.next_run_on
        schedule.save(update_fields=["next_run_on"])
        record_event(
            ctx,
            Action.ROTATION_SCHEDULE_WINDOW_MISSED,
            target=schedule.key,
            team=schedule.key.team,
            after={
                "due_on": work.due_on.isoformat(),
                "next_run_on": schedule.next_run_on.isoformat(),
            },
        )
        return True
    parent = _standing_approval(schedule)
    if parent is None:  # altered after approval: the schedule ends (set it again to resume)
        logger.error("schedule.refused", extra={"key": work.key, "schedule": schedule.pk})
        record_event(
            ctx,
            Action.ROTATION_SCHEDULE_REFUSED,
            target=schedule.key,
            team=schedule.key.team,
            after={"schedule_request": str(schedule.approved_by), "work": work.kind},
        )
        key = schedule.key
        schedule.delete()
        refresh_compliance(now=now, keys=[key])
        return True
    if work.kind == RETIRE:
        operation, params = (
            Operation.KEY_DISABLE_VERSION,
            {"name": work.key, "version": work.version},
        )
        reason, standing = f"Disable version {work.version} after a scheduled rotation", True
    else:
        operation, params = Operation.KEY_ROTATE, {"name": work.key}
        reason = f"Scheduled rotation due {work.due_on:%Y-%m-%d %H:%M} UTC"
        standing = work.kind == ROTATE
    try:
        with transaction.atomic():
            run = open_schedule_run(
                schedule_request=parent,
                operation=operation,
                params=params,
                standing=standing,
                reason=reason,
                ctx=ctx,
            )
    except (Conflict, Invalid) as exc:
        logger.info("schedule.run_held", extra={"key": work.key, "reason": str(exc)})
        return False
    if work.kind == RETIRE:
        schedule.retired_for_run = schedule.last_run_request
        schedule.save(update_fields=["retired_for_run"])
        return True
    schedule.last_run_on, schedule.last_run_request = now, run.pk
    schedule.next_run_on = work.next_run_on
    schedule.save(update_fields=["last_run_on", "last_run_request", "next_run_on"])
    return True
