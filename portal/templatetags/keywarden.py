"""Template filters of the portal's HTML pages (labels, badges, pretty JSON)."""

from __future__ import annotations

import json

from django import template

from approvals.models import Decision, Operation, State
from approvals.operations import spec_for
from audit.actions import Action

register = template.Library()

STATE_TONES = {
    State.PENDING: "waiting",
    State.APPROVED: "working",
    State.RUNNING: "working",
    State.SUCCEEDED: "ok",
    State.FAILED: "bad",
    State.REJECTED: "bad",
    State.CANCELLED: "muted",
    State.EXPIRED: "muted",
}


# A decision as its badge reads it: the choice labels are verbs (the buttons), badges past tense.
DECISION_BADGES = {
    Decision.APPROVE: ("Approved", "ok"),
    Decision.REJECT: ("Rejected", "bad"),
}


@register.filter
def decision_label(decision: str) -> str:
    """`reject` → `Rejected`: what a custodian's vote was."""
    return DECISION_BADGES[decision][0] if decision in DECISION_BADGES else decision


@register.filter
def decision_tone(decision: str) -> str:
    """The badge colour class of a custodian's vote."""
    return DECISION_BADGES[decision][1] if decision in DECISION_BADGES else "muted"


@register.filter
def operation_label(operation: str) -> str:
    return Operation(operation).label if operation in Operation.values else operation


@register.filter
def state_label(state: str) -> str:
    return State(state).label if state in State.values else state


@register.filter
def state_tone(state: str) -> str:
    """The badge colour class of a request state."""
    return STATE_TONES.get(state, "muted")


@register.filter
def action_label(action: str) -> str:
    return Action(action).label if action in Action.values else action


@register.filter
def high_risk(operation: str) -> bool:
    spec = spec_for(operation)
    return bool(spec and spec.high_risk)


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


NAV_SECTIONS = {
    "approvals:request-choose": "new",
    "approvals:request-new": "new",
    "approvals:request-confirm": "new",
    "approvals:queue": "approval",
    "approvals:policy-list": "policy",
    "approvals:policy-edit": "policy",
    "keys:rotation-standards": "standard",
    "keys:rotation-standard-edit": "standard",
    "keys:rotation-override-edit": "standard",
    "keys:rotation-override-new": "standard",
}
NAMESPACE_SECTIONS = {"keys": "key", "approvals": "request", "trail": "audit", "custody": "custody"}


@register.filter
def nav_section(view_name: str | None) -> str:
    """`keys:detail` → `key`: which navigation entry the current page belongs to."""
    view_name = view_name or ""
    namespace = view_name.partition(":")[0]
    return NAV_SECTIONS.get(view_name) or NAMESPACE_SECTIONS.get(namespace, view_name)
