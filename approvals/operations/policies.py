"""Shapes of rotation policies (with the service's rules) and secure-key-release policies."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from rest_framework import serializers

from approvals.operations.fields import (
    DurationField,
    StrictChoiceField,
    StrictSerializer,
    approximate,
)
from keys.gateway import LifetimeAction

MIN_EXPIRY_DAYS, MIN_TRIGGER_DAYS = 28, 7
TRIGGERS = ("time_after_create", "time_before_expiry")
ACTIONS = ("Rotate", "Notify")
MAX_RELEASE_POLICY_BYTES = 10_000


class ActionField(StrictChoiceField):
    """Rotate or Notify, in any letter case."""

    def __init__(self, **kwargs):
        kwargs.setdefault("error_messages", {"invalid_choice": "Must be Rotate or Notify."})
        super().__init__(ACTIONS, **kwargs)

    def to_internal_value(self, data):
        return super().to_internal_value(data.capitalize() if isinstance(data, str) else data)


class LifetimeActionSerializer(StrictSerializer):
    """`{"action": "Rotate", "time_after_create": "P90D"}`: one action, exactly one trigger."""

    action = ActionField()
    time_after_create = DurationField(minimum_days=MIN_TRIGGER_DAYS, required=False)
    time_before_expiry = DurationField(minimum_days=MIN_TRIGGER_DAYS, required=False)

    def validate(self, attrs):
        triggers = [name for name in TRIGGERS if attrs.get(name) is not None]
        if len(triggers) != 1:
            raise serializers.ValidationError(
                "Give exactly one trigger: time_after_create or time_before_expiry."
            )
        trigger = triggers[0]
        if trigger == "time_after_create" and attrs["action"] != "Rotate":
            raise serializers.ValidationError(
                {trigger: "Only a Rotate action can trigger after creation."}
            )
        return {"action": attrs["action"], trigger: attrs[trigger]}


class RotationPolicySerializer(StrictSerializer):
    """A rotation policy, `{"lifetime_actions": [...], "expiry_time": "P1Y"}`, as the service
    accepts it: one or two actions (at most one of each kind), triggers shorter than the
    expiry."""

    lifetime_actions = LifetimeActionSerializer(many=True)
    expiry_time = DurationField(
        minimum_days=MIN_EXPIRY_DAYS,
        required=False,
        allow_null=True,
        default=None,
        label="New versions expire after",
        help_text="ISO-8601 duration, at least 28 days; needed by time_before_expiry.",
    )

    def validate_lifetime_actions(self, actions):
        if not 1 <= len(actions) <= 2:
            raise serializers.ValidationError("Give one or two lifetime actions.")
        return actions

    def validate(self, attrs):
        """Also run on the fields that passed when others did not (an expiry_time that
        failed is then missing, not None, and nothing is compared with it)."""
        expiry, errors, seen = attrs.get("expiry_time"), {}, set()
        for index, action in enumerate(attrs.get("lifetime_actions", [])):
            problems: dict[str, list[str]] = {}
            if action["action"] in seen:
                problems["non_field_errors"] = [f"At most one {action['action']} action."]
            seen.add(action["action"])
            trigger = next(name for name in TRIGGERS if name in action)
            is_comparable = "expiry_time" in attrs
            if is_comparable and trigger == "time_before_expiry" and expiry is None:
                problems[trigger] = ["Needs expiry_time: new versions must expire."]
            elif is_comparable and expiry and approximate(action[trigger]) >= approximate(expiry):
                problems[trigger] = ["Must be shorter than expiry_time."]
            if problems:
                errors[index] = problems
        if errors:
            raise serializers.ValidationError({"lifetime_actions": errors})
        return {"lifetime_actions": attrs.get("lifetime_actions"), "expiry_time": expiry}


def lifetime_actions(policy: dict) -> list[LifetimeAction]:
    return [
        LifetimeAction(a["action"], a.get("time_after_create"), a.get("time_before_expiry"))
        for a in policy["lifetime_actions"]
    ]


def release_policy_errors(value: Any) -> dict[str, list[str]]:
    """Secure key release: `{"version": "1.0.0", "anyOf": [{"authority": "https://…",
    "allOf": [{"claim": "…", "equals": …}]}]}`; problems by path ("" for the policy)."""
    if not isinstance(value, dict):
        return {"": ["Must be a release policy object."]}
    try:
        size = len(json.dumps(value))
    except RecursionError:
        return {"": ["Nested too deeply."]}
    if size > MAX_RELEASE_POLICY_BYTES:
        return {"": [f"At most {MAX_RELEASE_POLICY_BYTES} bytes."]}
    groups = [k for k in ("anyOf", "allOf") if k in value]
    if len(groups) != 1 or not isinstance(value[groups[0]], list) or not value[groups[0]]:
        return {"": ["Needs exactly one non-empty anyOf or allOf list."]}
    errors: dict[str, list[str]] = {}
    if set(value) - {"version", *groups}:
        errors[""] = ["Only version and one anyOf/allOf list are allowed."]
    for index, group in enumerate(value[groups[0]]):
        for where, message in _claim_group_errors(group, f"{groups[0]}.{index}"):
            errors.setdefault(where, []).append(message)
    return errors


def _claim_group_errors(group: Any, where: str) -> list[tuple[str, str]]:
    if not isinstance(group, dict):
        return [(where, "Must be an object with authority and allOf/anyOf.")]
    problems = []
    try:
        authority = urlparse(str(group.get("authority", "")))
    except ValueError:  # e.g. "https://[": an unterminated IPv6 host
        authority = urlparse("")
    if authority.scheme != "https" or not authority.netloc:
        problems.append((f"{where}.authority", "Must be the attestation authority's https URL."))
    kinds = [k for k in ("allOf", "anyOf") if k in group]
    conditions = [group[k] for k in kinds]
    if len(conditions) != 1 or not isinstance(conditions[0], list) or not conditions[0]:
        return [*problems, (where, "Needs exactly one non-empty allOf or anyOf list of claims.")]
    for number, condition in enumerate(conditions[0]):
        ok = (
            isinstance(condition, dict)
            and isinstance(condition.get("claim"), str)
            and condition["claim"]
            and "equals" in condition
            and isinstance(condition["equals"], str | bool | int | float)
        )
        if not ok:
            path = f"{where}.{kinds[0]}.{number}"  # the JSON path of the condition
            problems.append((path, "Each claim needs claim and equals."))
    return problems
