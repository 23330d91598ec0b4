"""Reconciling a scenario's requests against the HSM itself, read out of band.

For every request: it ended (SUCCEEDED or FAILED); a success has its effect in the HSM and a
failure none; creates left exactly one version, rotates exactly one more than the key had,
assignments exactly one; at most one attempt recorded an end; the version a success recorded
is the key's current one; exactly one terminal audit event. Then the whole audit chain.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

FINAL_OUTCOMES = ("succeeded", "failed")
TERMINAL_ACTIONS = ("request.succeeded", "request.failed")
REQUEST_TARGET = "approvals.changerequest"


@dataclass
class Verdict:
    """What one scenario's reconciliation found; `problems` holds the evidence."""

    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    lost: int = 0
    duplicates: int = 0
    phantoms: int = 0  # FAILED, yet the effect is in the HSM
    fenced_writes: int = 0
    terminal_events_bad: int = 0
    chain_ok: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        broken = self.lost + self.duplicates + self.phantoms
        return not (broken + self.fenced_writes + self.terminal_events_bad) and self.chain_ok


def versions_of(hsm, name: str) -> int:
    from keys.gateway import HsmNotFound

    try:
        return len(list(hsm.operator.list_key_versions(name)))
    except HsmNotFound:
        return 0


def effect_count(hsm, change, assignments: Counter) -> tuple[int, int]:
    """(what the HSM holds now, what it held before the request) for the request's effect:
    key versions for creates and rotates, matching assignments for role.assign."""
    if change.operation == "key.create":
        return versions_of(hsm, change.key_name), 0
    if change.operation == "key.rotate":
        return versions_of(hsm, change.key_name), 1
    wanted = (change.params["scope"], change.params["principal_id"].lower())
    return assignments[wanted], 0


def check_effect(hsm, change, assignments: Counter, verdict: Verdict) -> None:
    now, before = effect_count(hsm, change, assignments)
    label = f"{change.operation} {change.pk} on {change.key_name}"
    if change.state == "succeeded" and now == before:
        verdict.lost += 1
        verdict.problems.append(f"LOST {label}: succeeded, HSM holds {now} (before {before})")
    elif change.state == "succeeded" and now > before + 1:
        verdict.duplicates += 1
        verdict.problems.append(f"DUPLICATE {label}: HSM holds {now}, expected {before + 1}")
    elif change.state == "failed" and now != before:
        verdict.phantoms += 1
        verdict.problems.append(
            f"PHANTOM {label}: failed ({change.error}), yet HSM holds {now} (before {before})"
        )


def check_recorded_version(hsm, change, verdict: Verdict) -> None:
    """A success's recorded version is the key's current one (each key has one request)."""
    if change.state != "succeeded" or change.operation == "role.assign":
        return
    current = hsm.operator.get_key(change.key_name).version
    if (change.result or {}).get("version") != current:
        verdict.fenced_writes += 1
        verdict.problems.append(
            f"STALE RESULT {change.operation} {change.pk}: recorded "
            f"{(change.result or {}).get('version')}, HSM current {current}"
        )


def check_attempts(change, verdict: Verdict) -> None:
    attempts = list(change.executions.values_list("attempt", "outcome"))
    ends = [a for a in attempts if a[1] in FINAL_OUTCOMES]
    if len(ends) > 1:
        verdict.fenced_writes += 1
        verdict.problems.append(f"FENCED WRITE {change.pk}: attempts {attempts}")


def check_terminal_events(change, events: dict, verdict: Verdict) -> None:
    actions = events.get(str(change.pk), [])
    if actions != [f"request.{change.state}"]:
        verdict.terminal_events_bad += 1
        verdict.problems.append(
            f"TERMINAL EVENTS {change.pk} ({change.state}): {actions or 'none'}"
        )


def terminal_events(ids: list[str]) -> dict[str, list[str]]:
    from audit.models import AuditEvent

    found: dict[str, list[str]] = {}
    rows = AuditEvent.objects.filter(
        target_type=REQUEST_TARGET, target_id__in=ids, action__in=TERMINAL_ACTIONS
    ).order_by("sequence")
    for target_id, action in rows.values_list("target_id", "action"):
        found.setdefault(target_id, []).append(action)
    return found


def activity(hsm, seq: int, changes) -> list[str]:
    """What the scenario made happen: HSM answers by status (None: dropped) and attempts by
    outcome, with how many timed out in a call that may have landed."""
    from approvals.models import Execution

    calls = [r for r in hsm.process.requests_since(seq) if r.get("principal")]
    statuses = Counter(r["status"] for r in calls)
    attempts = Execution.objects.filter(request__in=[c.pk for c in changes])
    outcomes = Counter(attempts.values_list("outcome", flat=True))
    landed = attempts.filter(error__maybe_applied=True).count()
    return [
        f"HSM calls {len(calls)}: "
        + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str)),
        "attempts: "
        + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        + f" ({landed} ended in a call that may have landed)",
    ]


def reconcile(hsm, changes) -> Verdict:
    """Check every request of a scenario (call once all are terminal or the wait ran out,
    with the HSM's faults cleared)."""
    from approvals.models import ChangeRequest
    from audit.chain_selectors import verify_chain

    verdict = Verdict(requests=len(changes))
    assignments = Counter(
        (a.scope, a.principal_id.lower()) for a in hsm.admin.list_role_assignments("/")
    )
    ids = [c.pk for c in changes]
    events = terminal_events([str(pk) for pk in ids])
    for change in ChangeRequest.objects.filter(pk__in=ids):
        if change.state not in FINAL_OUTCOMES:
            verdict.lost += 1
            attempts = list(change.executions.values_list("attempt", "outcome", "heartbeat_at"))
            verdict.problems.append(
                f"LOST {change.operation} {change.pk}: still {change.state} "
                f"(dispatches {change.dispatch_count}, attempts {attempts})"
            )
            continue
        verdict.succeeded += change.state == "succeeded"
        verdict.failed += change.state == "failed"
        check_effect(hsm, change, assignments, verdict)
        check_recorded_version(hsm, change, verdict)
        check_attempts(change, verdict)
        check_terminal_events(change, events, verdict)
    verdict.chain_ok = verify_chain().valid
    if not verdict.chain_ok:
        verdict.problems.append("AUDIT CHAIN broken")
    return verdict
