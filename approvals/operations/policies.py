"""Rules for rotation policies (as the service enforces them) and secure-key-release policies."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from approvals.operations.base import Checked
from keys.gateway import LifetimeAction

MIN_EXPIRY_DAYS, MIN_TRIGGER_DAYS = 28, 7
TRIGGERS = ("time_after_create", "time_before_expiry")
MAX_RELEASE_POLICY_BYTES = 10_000


def _at(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def check_rotation_policy(checked: Checked, value: Any, prefix: str) -> dict | None:
    """`{"lifetime_actions": [{"action": "Rotate", "time_after_create": "P90D"}],
    "expiry_time": "P1Y"}`, normalized; errors on `prefix.*` (top level when prefix is "")."""
    if not isinstance(value, dict) or set(value) - {"lifetime_actions", "expiry_time"}:
        checked.errors.add(
            prefix or "lifetime_actions", "Must be an object with lifetime_actions and expiry_time."
        )
        return None
    actions, expiry = value.get("lifetime_actions"), value.get("expiry_time")
    expiry_length = (
        checked.duration(_at(prefix, "expiry_time"), expiry, minimum_days=MIN_EXPIRY_DAYS)
        if expiry is not None
        else None
    )
    if not isinstance(actions, list) or not 1 <= len(actions) <= 2:
        checked.errors.add(_at(prefix, "lifetime_actions"), "Give one or two lifetime actions.")
        return None
    normalized, seen = [], set()
    for index, action in enumerate(actions):
        where = _at(prefix, f"lifetime_actions.{index}")
        item = _check_action(checked, action, where, expiry_length)
        if item is None:
            continue
        if item["action"] in seen:
            checked.errors.add(where, f"At most one {item['action']} action.")
        seen.add(item["action"])
        normalized.append(item)
    return {"lifetime_actions": normalized, "expiry_time": expiry}


def _check_action(checked: Checked, action: Any, where: str, expiry_length) -> dict | None:
    if not isinstance(action, dict) or set(action) - {"action", *TRIGGERS}:
        checked.errors.add(where, "Must be {action, time_after_create | time_before_expiry}.")
        return None
    kind = str(action.get("action", "")).capitalize()
    if kind not in ("Rotate", "Notify"):
        checked.errors.add(f"{where}.action", "Must be Rotate or Notify.")
        return None
    triggers = [t for t in TRIGGERS if action.get(t) is not None]
    if len(triggers) != 1:
        checked.errors.add(
            where, "Give exactly one trigger: time_after_create or time_before_expiry."
        )
        return None
    trigger = triggers[0]
    if trigger == "time_after_create" and kind != "Rotate":
        checked.errors.add(f"{where}.{trigger}", "Only a Rotate action can trigger after creation.")
    length = checked.duration(f"{where}.{trigger}", action[trigger], minimum_days=MIN_TRIGGER_DAYS)
    if trigger == "time_before_expiry" and expiry_length is None:
        checked.errors.add(f"{where}.{trigger}", "Needs expiry_time: new versions must expire.")
    elif length and expiry_length and length >= expiry_length:
        checked.errors.add(f"{where}.{trigger}", "Must be shorter than expiry_time.")
    return {"action": kind, trigger: action[trigger]}


def lifetime_actions(policy: dict) -> list[LifetimeAction]:
    return [
        LifetimeAction(a["action"], a.get("time_after_create"), a.get("time_before_expiry"))
        for a in policy["lifetime_actions"]
    ]


def check_release_policy(checked: Checked, value: Any, name: str) -> dict | None:
    """Secure key release: `{"version": "1.0.0", "anyOf": [{"authority": "https://…",
    "allOf": [{"claim": "…", "equals": …}]}]}`."""
    if not isinstance(value, dict):
        checked.errors.add(name, "Must be a release policy object.")
        return None
    if len(json.dumps(value)) > MAX_RELEASE_POLICY_BYTES:
        checked.errors.add(name, f"At most {MAX_RELEASE_POLICY_BYTES} bytes.")
        return None
    groups = [k for k in ("anyOf", "allOf") if k in value]
    if len(groups) != 1 or not isinstance(value[groups[0]], list) or not value[groups[0]]:
        checked.errors.add(name, "Needs exactly one non-empty anyOf or allOf list.")
        return None
    if set(value) - {"version", *groups}:
        checked.errors.add(name, "Only version and one anyOf/allOf list are allowed.")
    for index, group in enumerate(value[groups[0]]):
        _check_claim_group(checked, group, f"{name}.{groups[0]}.{index}")
    return value


def _check_claim_group(checked: Checked, group: Any, where: str) -> None:
    if not isinstance(group, dict):
        checked.errors.add(where, "Must be an object with authority and allOf/anyOf.")
        return
    authority = urlparse(str(group.get("authority", "")))
    if authority.scheme != "https" or not authority.netloc:
        checked.errors.add(f"{where}.authority", "Must be the attestation authority's https URL.")
    conditions = [group[k] for k in ("allOf", "anyOf") if k in group]
    if len(conditions) != 1 or not isinstance(conditions[0], list) or not conditions[0]:
        checked.errors.add(where, "Needs exactly one non-empty allOf or anyOf list of claims.")
        return
    for number, condition in enumerate(conditions[0]):
        ok = (
            isinstance(condition, dict)
            and isinstance(condition.get("claim"), str)
            and condition["claim"]
            and "equals" in condition
            and isinstance(condition["equals"], str | bool | int | float)
        )
        if not ok:
            checked.errors.add(f"{where}.claims.{number}", "Each claim needs claim and equals.")
