"""What every operation shares. An operation is declared once: a serializer for the shape of
its params, `validate` for the rules needing the database or the team, `plan` for the HSM
calls (previewed, then run by the one executor) and `outcome` for what the run recorded.

Validation reads only the database (inventory mirror, open requests), never the HSM, so a
refused submission costs the HSM nothing. Errors are keyed `params.<field>`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from rest_framework import serializers

from accounts.models import Team
from approvals.operations.diff import Change
from approvals.operations.fields import KeyNameField, StrictSerializer, read_shape
from approvals.operations.plan import (
    PENDING_REQUEST_ID,
    ExecutionContext,
    HsmCall,
    render_plan,
    run_plan,
)
from core.errors import Invalid
from keys.models import KeyState, ManagedKey
from keys.selectors import key_named, keys_named


class Problems(dict):
    """Collects the database rules' findings, so the user fixes every field in one go."""

    def add(self, name: str, message: str) -> None:
        self.setdefault(f"params.{name}", []).append(message)

    def raise_if_any(self) -> None:
        if self:
            raise Invalid(dict(self), "The request parameters are not valid.")


@dataclass
class Outcome:
    """What an execution did: a JSON result, HSM request ids, and the inventory write to run
    in the same transaction that marks the request succeeded."""

    result: dict
    hsm_request_ids: list[str]
    record_inventory: Callable[[datetime], object] = lambda now: None


def request_ids(*ids: str | None) -> list[str]:
    return [i for i in ids if i]


class OperationSpec:
    """One operation of PRODUCT.md §5; subclasses declare `params`, `plan` and `outcome`,
    and `validate` when the database or the team has a say."""

    operation: ClassVar[str]
    params: ClassVar[type[serializers.Serializer]]
    high_risk: ClassVar[bool] = False

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self.params().fields)

    def validate(self, params: dict, *, team: Team) -> dict:
        """Rules needing the database or the team, on shape-checked params (only those that
        passed when others did not); the normalized params, or Invalid."""
        return params

    def plan(self, params: dict, *, request_id: Any) -> list[HsmCall]:
        raise NotImplementedError

    def warnings(self, params: dict) -> list[str]:
        """What is allowed but weaker than the org's baseline: shown on the preview and the
        approval pages, never a refusal."""
        return []

    def outcome(self, ctx: ExecutionContext, results: list) -> Outcome:
        """The result and inventory write, from the results of the planned calls."""
        raise NotImplementedError

    def key_name(self, params: dict) -> str:
        return params["name"]

    def current(self, params: dict) -> dict | None:
        """The inventory's values of the fields this operation changes on an existing key
        (JSON-safe; captured on the request at submission), or None: nothing to compare."""
        return None

    def changes(self, current: dict | None, params: dict, *, team: Team) -> list[Change]:
        """Current → requested per field (`approvals.operations.diff`); [] when `current`
        does not apply."""
        return []

    def check(self, raw: Any, *, team: Team) -> dict:
        """Shape, then the database rules: the normalized params, or Invalid with every
        problem at once."""
        values, errors = read_shape(self.params, raw)
        try:
            normalized = self.validate(values, team=team)
        except Invalid as invalid:
            for name, messages in invalid.errors.items():
                errors.setdefault(name, []).extend(messages)
        if errors:
            raise Invalid(errors, "The request parameters are not valid.")
        return spelled_as_inventory(normalized)

    def preview(self, params: dict, *, request_id: Any = None) -> str:
        """The HSM calls exactly as the worker will make them (before submission, the request
        id is shown as a placeholder)."""
        return render_plan(self.plan(params, request_id=request_id or PENDING_REQUEST_ID))

    def execute(self, ctx: ExecutionContext) -> Outcome:
        calls = self.plan(ctx.change.params, request_id=ctx.change.pk)
        return self.outcome(ctx, run_plan(calls, ctx))

    def first_read(self, change) -> tuple[str, tuple] | None:
        """The read-only HSM call (method, args) a first attempt starts with (its first call's
        check), which the worker makes while it claims the attempt; None: nothing to read
        early (an operation with an `execute` of its own says nothing of its calls)."""
        if type(self).execute is not OperationSpec.execute:
            return None
        calls = self.plan(change.params, request_id=change.pk)
        done = calls[0].already_done if calls else None
        return done.look() if done is not None else None


def spelled_as_inventory(params: dict) -> dict:
    """`params` with the key names in `name`, `targets` and a `/keys/<name>` scope spelled as
    the inventory spells them: the HSM compares names in any case, so a request on pay-ORDERS
    acts on pay-orders and says so (payload, audit, mail, the one-open-request rule)."""
    scope = params.get("scope")
    scoped = (
        scope[len("/keys/") :] if isinstance(scope, str) and scope.startswith("/keys/") else None
    )
    names = [params.get("name"), scoped, *params.get("targets", [])]
    names = [name for name in names if isinstance(name, str)]
    spelled = {key.name.lower(): key.name for key in keys_named(names)} if names else {}
    if not spelled:
        return params
    respelled = dict(params)
    if isinstance(params.get("name"), str):
        respelled["name"] = spelled.get(params["name"].lower(), params["name"])
    if "targets" in params:
        respelled["targets"] = [spelled.get(t.lower(), t) for t in params["targets"]]
    if scoped:
        respelled["scope"] = f"/keys/{spelled.get(scoped.lower(), scoped)}"
    return respelled


def team_may_use(problems: Problems, team: Team, name: str | None, field: str = "name") -> bool:
    """Whether `name` has the team's key prefix (else a problem on `field`)."""
    if name and not name.startswith(team.key_prefix):
        problems.add(field, f"Team {team.slug} may only use keys named {team.key_prefix}*.")
        return False
    return bool(name)


def live_key(problems: Problems, name: str | None, *, field: str = "name") -> ManagedKey | None:
    """The inventory row of a live key, or a problem on `field`. Names match in any case, as
    in the HSM; callers keep the row's spelling (`key.name`) in the params they return."""
    if name is None:
        return None
    key = key_named(name)
    if key is None or key.state == KeyState.PURGED:
        problems.add(field, f"No key named {name} in the HSM inventory.")
        return None
    if key.state != KeyState.ACTIVE:
        problems.add(field, f"Key {name} is {key.state}; recover it first.")
        return None
    return key


class KeyNameParams(StrictSerializer):
    """One key of the team, by name."""

    name = KeyNameField()


class NamedKeyOperation(OperationSpec):
    """An operation whose only parameter is a key of the team, which must be in
    `required_state` (live unless said otherwise)."""

    params = KeyNameParams
    required_state: ClassVar[str] = KeyState.ACTIVE
    state_hint: ClassVar[str] = "Only a live key"

    def validate(self, params: dict, *, team: Team) -> dict:
        problems, name = Problems(), params.get("name")
        if team_may_use(problems, team, name):
            key = key_named(name)
            if key is None or key.state != self.required_state:
                found = "no such key" if key is None else f"it is {key.state}"
                problems.add("name", f"{self.state_hint} ({name}: {found}).")
            name = key.name if key else name  # the inventory's spelling
        problems.raise_if_any()
        return {"name": name}
