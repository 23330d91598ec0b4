"""The rotation dashboard (ROTATION.md §6) as one read: `rotation_report(...)` computes every tile,
table and chart series for a user's scope in a constant number of SQL queries (aggregates in
SQL; Python only shapes the few rows they return)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.db.models import Case, Count, F, IntegerField, Min, Q, QuerySet, Sum, Value, When
from django.urls import reverse

from accounts.models import Team, User
from accounts.selectors import teams_of, teams_visible_to
from approvals.models import ChangeRequest, State
from core.durations import approximate_days
from core.errors import Invalid, NotFound
from keys.compliance import hsm_next_rotation
from keys.models import (
    UNJUDGED_STATES,
    ComplianceSnapshot,
    ComplianceState,
    KeyState,
    ManagedKey,
    RotationMechanism,
    RotationStandard,
)
from keys.selectors import keys_visible_to
from reports.service_levels import approval_service_levels

HORIZON = timedelta(days=30)  # "due in 30 days", "expiring in 30 days", "next 30 days"
TREND_DAYS = 90
RECENT_RUNS = 20
UPCOMING_KEYS = 200  # keys read for the next-30-days table, earliest due first
UPCOMING_ROWS = 100
# Age of the current version: (label, from days, to days); None: open-ended.
AGE_BINS = (
    ("0-30 d", 0, 30),
    ("30-90 d", 30, 90),
    ("90-180 d", 90, 180),
    ("180 d-1 y", 180, 365),
    ("1-2 y", 365, 730),
    ("> 2 y", 730, None),
)
STATES = tuple(ComplianceState.values)
JUDGED = ~Q(compliance_state__in=UNJUDGED_STATES)


@dataclass(frozen=True)
class ReportScope:
    """Whose keys the report counts: what `user` may see, narrowed to `team` and `key_class`."""

    user: User
    team: Team | None
    key_class: str | None
    now: datetime
    standards: tuple[RotationStandard, ...]

    def keys(self) -> QuerySet[ManagedKey]:
        """Live keys in scope (deleted and purged keys are not on the dashboard)."""
        keys = keys_visible_to(self.user).filter(state=KeyState.ACTIVE)
        if self.team is not None:
            keys = keys.filter(team=self.team)
        if self.key_class:
            keys = keys.filter(rotation_class=self.key_class)
        return keys

    def requests(self) -> QuerySet[ChangeRequest]:
        """Change requests in scope (the class does not narrow approval service levels): the
        rule of approvals.selectors.requests_visible_to, without its approvals count."""
        requests = ChangeRequest.objects.all()
        if not self.user.sees_all_teams:
            requests = requests.filter(team__in=teams_of(self.user))
        if self.team is not None:
            requests = requests.filter(team=self.team)
        return requests

    def inventory_link(self, **filters: str) -> str:
        """The inventory page filtered to the keys a number counts (keys.filters)."""
        query = {"deleted": "false"}
        if self.team is not None:
            query["team"] = self.team.slug
        if self.key_class:
            query["rotation_class"] = self.key_class
        return f"{reverse('keys:list')}?{urlencode({**query, **filters})}"

    @property
    def query(self) -> dict[str, str]:
        """The scope as the page's and the API's query parameters."""
        query = {"now": self.now.isoformat()}
        if self.team is not None:
            query["team"] = self.team.slug
        if self.key_class:
            query["class"] = self.key_class
        return query


def report_scope(
    user: User, *, team: str | None, key_class: str | None, now: datetime
) -> ReportScope:
    """The scope for these parameters. Raises NotFound (a team the user cannot see) and
    Invalid (an unknown class). Two queries."""
    stored = list(RotationStandard.objects.filter(team=None).order_by("key_class"))
    by_class = {s.key_class: s for s in RotationStandard.seeded()} | {
        s.key_class: s for s in stored
    }
    if key_class and key_class not in by_class:
        raise Invalid({"class": [f"No rotation class {key_class!r}."]})
    found = None
    if team:
        found = teams_visible_to(user).filter(slug=team).first()
        if found is None:
            raise NotFound(f"No team {team!r} that you may see.")
    standards = tuple(by_class[name] for name in sorted(by_class))
    return ReportScope(user, found, key_class or None, now, standards)


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _age_bin_counts(now: datetime) -> dict[str, Count]:
    counts = {}
    for index, (_label, low, high) in enumerate(AGE_BINS):
        condition = Q(current_version_created_on__lte=now - timedelta(days=low)) if low else Q()
        if high is not None:
            condition &= Q(current_version_created_on__gt=now - timedelta(days=high))
        else:
            condition &= Q(current_version_created_on__isnull=False)
        counts[f"age_{index}"] = Count("pk", filter=condition)
    counts["age_unknown"] = Count("pk", filter=Q(current_version_created_on__isnull=True))
    return counts


def _per_team_counts(scope: ReportScope) -> list[dict]:
    """One grouped aggregate: every count the tiles, the team table, the state bars and the
    age histogram need, per team (the tiles are their sums). One query."""
    now, soon = scope.now, scope.now + HORIZON
    counts = {
        **{f"state_{state}": Count("pk", filter=Q(compliance_state=state)) for state in STATES},
        "keys": Count("pk"),
        "judged": Count("pk", filter=JUDGED),
        "due_30": Count("pk", filter=Q(compliance_due_on__gt=now, compliance_due_on__lte=soon)),
        "expiring_30": Count("pk", filter=Q(expires_on__gt=now, expires_on__lte=soon)),
        "no_mechanism": Count("pk", filter=JUDGED & Q(compliance_mechanism=RotationMechanism.NONE)),
        "unmanaged": Count("pk", filter=Q(last_applied__isnull=True)),
        "drift": Count("pk", filter=Q(has_drift=True)),
        "oldest": Min("current_version_created_on"),
        **_age_bin_counts(now),
    }
    rows = (
        scope.keys()
        .values("team__slug", "team__name")
        .annotate(**counts)
        .order_by(F("team__slug").asc(nulls_last=True))  # keys of no team last, on any database
    )
    return list(rows)


def _tiles(scope: ReportScope, totals: dict) -> list[dict]:
    now, soon = scope.now, scope.now + HORIZON
    after_now = (now + timedelta(microseconds=1)).isoformat()
    link = scope.inventory_link
    return [
        {"name": "keys", "label": "Keys in scope", "value": totals["keys"], "link": link()},
        {
            "name": "compliant_percent",
            "label": "Compliant",
            "value": _percent(totals["state_compliant"], totals["judged"]),
            "link": link(compliance=ComplianceState.COMPLIANT),
        },
        {
            "name": "overdue",
            "label": "Overdue",
            "value": totals["state_overdue"],
            "link": link(compliance=ComplianceState.OVERDUE),
        },
        {
            "name": "due_30_days",
            "label": "Due in 30 days",
            "value": totals["due_30"],
            "link": link(due_after=after_now, due_before=soon.isoformat()),
        },
        {
            "name": "expiring_30_days",
            "label": "Expiring in 30 days",
            "value": totals["expiring_30"],
            "link": link(expires_after=after_now, expires_before=soon.isoformat()),
        },
        {
            "name": "no_mechanism",
            "label": "No rotation mechanism",
            "value": totals["no_mechanism"],
            "link": link(mechanism=RotationMechanism.NONE, applicable="true"),
        },
        {
            "name": "unmanaged",
            "label": "Unmanaged",
            "value": totals["unmanaged"],
            "link": link(managed="false"),
        },
        {"name": "drift", "label": "Drift", "value": totals["drift"], "link": link(drift="true")},
    ]


def _team_rows(rows: list[dict], now: datetime) -> list[dict]:
    return [
        {
            "team": row["team__slug"] or "",
            "team_name": row["team__name"] or "(no team)",
            "keys": row["keys"],
            "compliant_percent": _percent(row["state_compliant"], row["judged"]),
            "overdue": row["state_overdue"],
            "due_soon": row["state_due_soon"],
            "no_mechanism": row["no_mechanism"],
            "oldest_version_age_days": (now - row["oldest"]).days if row["oldest"] else None,
            "states": {state: row[f"state_{state}"] for state in STATES},
        }
        for row in rows
    ]


def _histogram(scope: ReportScope, totals: dict) -> dict:
    bins = [
        {"label": label, "from_days": low, "to_days": high, "keys": totals[f"age_{index}"]}
        for index, (label, low, high) in enumerate(AGE_BINS)
    ]
    limits = [
        {"key_class": s.key_class, "max_age": s.max_age, "days": approximate_days(s.max_age)}
        for s in scope.standards
        if not scope.key_class or s.key_class == scope.key_class
    ]
    return {"bins": bins, "unknown_age": totals["age_unknown"], "class_limits": limits}


def _trend(scope: ReportScope) -> list[dict]:
    """Compliant % and overdue per day from the daily snapshots (per team, so the class filter
    does not narrow it). One query."""
    last = scope.now.date()
    snapshots = ComplianceSnapshot.objects.filter(
        day__gt=last - timedelta(days=TREND_DAYS), day__lte=last
    )
    if scope.team is not None:
        snapshots = snapshots.filter(team=scope.team)
    elif not scope.user.sees_all_teams:
        snapshots = snapshots.filter(team__in=teams_of(scope.user))
    days = (
        snapshots.values("day")
        .annotate(
            compliant=Sum("compliant"),
            overdue=Sum("overdue"),
            total=Sum("total"),
            not_applicable=Sum("not_applicable"),
            unjudged=Sum("unjudged"),
        )
        .order_by("day")
    )
    return [
        {
            "day": row["day"],
            "compliant_percent": _percent(
                row["compliant"], row["total"] - row["not_applicable"] - row["unjudged"]
            ),
            "compliant": row["compliant"],
            "overdue": row["overdue"],
            "keys": row["total"],
        }
        for row in days
    ]


def _events_of(key: ManagedKey, now: datetime, soon: datetime) -> list[dict]:
    def event(when, kind, mechanism):
        team = key.team.slug if key.team_id else ""
        return {"on": when, "kind": kind, "by": mechanism, "key": key.name, "team": team}

    events = []
    hsm_on = hsm_next_rotation(
        key.rotation_policy,
        version_created=key.current_version_created_on,
        expires_on=key.expires_on,
    )
    if hsm_on and now < hsm_on <= soon:
        events.append(event(hsm_on, "rotation", RotationMechanism.HSM_POLICY))
    schedule = getattr(key, "rotation_schedule", None)
    if schedule and now < schedule.next_run_on <= soon:
        events.append(event(schedule.next_run_on, "rotation", RotationMechanism.SCHEDULE))
    if key.expires_on and now < key.expires_on <= soon:
        events.append(event(key.expires_on, "expiry", ""))
    return events


def _upcoming(scope: ReportScope) -> list[dict]:
    """Rotations the HSM policies and the schedules will make in the next 30 days, and
    expiries, earliest first. One query."""
    now, soon = scope.now, scope.now + HORIZON
    keys = (
        scope.keys()
        .filter(JUDGED)
        .filter(
            Q(compliance_mechanism=RotationMechanism.HSM_POLICY, compliance_due_on__lte=soon)
            | Q(rotation_schedule__next_run_on__gt=now, rotation_schedule__next_run_on__lte=soon)
            | Q(expires_on__gt=now, expires_on__lte=soon)
        )
        .select_related("team", "rotation_schedule")
        .order_by("compliance_due_on", "name")[:UPCOMING_KEYS]
    )
    events = [event for key in keys for event in _events_of(key, now, soon)]
    return sorted(events, key=lambda event: (event["on"], event["key"]))[:UPCOMING_ROWS]


def _schedule_runs(scope: ReportScope) -> list[dict]:
    """The last 30 days' schedule runs, failed first, then the latest. One query."""
    runs = (
        scope.requests()
        .filter(
            schedule_request__isnull=False,
            created_at__gt=scope.now - HORIZON,
            created_at__lte=scope.now,
        )
        .select_related("team")
    )
    if scope.key_class:
        runs = runs.filter(
            key_name__in=ManagedKey.objects.filter(rotation_class=scope.key_class).values("name")
        )
    failed_first = Case(
        When(state=State.FAILED, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    runs = runs.annotate(failed_first=failed_first).order_by("failed_first", "-created_at")
    return [_run_row(run) for run in runs[:RECENT_RUNS]]


def _run_row(run: ChangeRequest) -> dict:
    error = run.error if isinstance(run.error, dict) else {}
    return {
        "id": str(run.pk),
        "operation": run.operation,
        "key": run.key_name,
        "team": run.team.slug,
        "state": run.state,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "error": str(error.get("message", "")) if error else "",
    }


def overdue_keys(scope: ReportScope) -> QuerySet[ManagedKey]:
    """The keys in scope overdue for rotation, the longest overdue first."""
    return (
        scope.keys()
        .filter(compliance_state=ComplianceState.OVERDUE)
        .select_related("team")
        .order_by("compliance_due_on", "name")
    )


HEADLINE_TILES = ("compliant_percent", "overdue", "due_30_days", "expiring_30_days")


def rotation_tiles(scope: ReportScope, *, names: tuple[str, ...] | None = None) -> list[dict]:
    """The dashboard's tiles alone (`names`: just those, in the dashboard's order), for the
    home page. One query."""
    rows = _per_team_counts(scope)
    tiles = _tiles(scope, {name: sum(row[name] for row in rows) for name in TOTALS})
    return [tile for tile in tiles if names is None or tile["name"] in names]


def rotation_report(scope: ReportScope) -> dict:
    """The whole dashboard for `scope` (tiles, team table, histogram, trend, next 30 days,
    schedule runs, approval service levels). Compliance is as last stored on the key rows;
    `now` places the windows. Six queries, whatever the number of keys."""
    rows = _per_team_counts(scope)
    totals = {name: sum(row[name] for row in rows) for name in TOTALS}
    return {
        "scope": {
            "team": scope.team.slug if scope.team else None,
            "class": scope.key_class,
            "now": scope.now,
        },
        "tiles": _tiles(scope, totals),
        "teams": _team_rows(rows, scope.now),
        "states": {state: totals[f"state_{state}"] for state in STATES},
        "age_histogram": _histogram(scope, totals),
        "trend": _trend(scope),
        "upcoming": _upcoming(scope),
        "schedule_runs": _schedule_runs(scope),
        "service_levels": approval_service_levels(scope.requests(), now=scope.now, window=HORIZON),
    }


# The per-team counts the tiles and the histogram sum.
TOTALS = (
    *(f"state_{state}" for state in STATES),
    "keys",
    "judged",
    "due_30",
    "expiring_30",
    "no_mechanism",
    "unmanaged",
    "drift",
    *(f"age_{index}" for index in range(len(AGE_BINS))),
    "age_unknown",
)
