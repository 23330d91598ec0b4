"""Bulk requests (ROTATION.md §3): one request applies the same rotation policy or schedule to
up to MAX_TARGETS keys of one team. Custodians approve it once; execution goes key by key,
records each key's inventory as it lands and keeps the progress in the attempt's checkpoint,
so one failing key undoes nothing and a retry re-runs only the keys that failed."""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from django.db import transaction
from django.utils import timezone
from rest_framework import serializers

from accounts.models import Team
from approvals.operations.base import Outcome, live_key, team_may_use
from approvals.operations.fields import KeyNameField
from approvals.operations.plan import ExecutionContext, run_plan
from keys.gateway import HsmError, HsmTransientError
from keys.models import KeyState, ManagedKey
from keys.selectors import keys_named

MAX_TARGETS = 500
SHOWN_IN_PREVIEW = 5
DONE, FAILED = "bulk_done", "bulk_failed"  # checkpoint entries


class TargetsField(serializers.ListField):
    """1 to MAX_TARGETS distinct key names (in any case, as the HSM compares them), sorted."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Keys (bulk)")
        kwargs.setdefault(
            "help_text", f"Instead of one key name: up to {MAX_TARGETS} keys of the team."
        )
        super().__init__(child=KeyNameField(), min_length=1, max_length=MAX_TARGETS, **kwargs)

    def to_internal_value(self, data):
        names = super().to_internal_value(data)
        if len({name.lower() for name in names}) != len(names):
            raise serializers.ValidationError("Keys must not repeat.")  # in any case
        return sorted(names)


class OneKeyOrTargets:
    """Mixed into a params serializer with `name` and `targets`: exactly one of them, as sent
    (so a refused `targets` is not also reported as missing)."""

    def validate(self, attrs):
        sent = getattr(self, "initial_data", {})
        if ("name" in sent) == ("targets" in sent):
            raise serializers.ValidationError(
                {"name": f"Give either name (one key) or targets (up to {MAX_TARGETS} keys)."}
            )
        return super().validate(attrs)


class PartialFailure(Exception):
    """Some keys of a bulk request failed: the request ends FAILED with every key's result."""

    def __init__(self, result: dict):
        super().__init__(f"{len(result['failed'])} of {result['targets']} keys failed")
        self.result = result

    def as_dict(self) -> dict:
        return {
            "error": "PartialFailure",
            "message": f"{self}; the others are done. A retry re-runs only the failed keys.",
            "failed": self.result["failed"],
        }


def is_bulk(params: dict) -> bool:
    return "targets" in params


def targets_of(params: dict) -> list[str]:
    """The keys a request acts on."""
    return list(params["targets"]) if is_bulk(params) else [params["name"]]


def live_keys_of_team(problems, team: Team, params: dict) -> list[ManagedKey]:
    """The live inventory rows of the request's keys (one query), or problems naming every
    key that is not the team's, not in the inventory, or not live."""
    if ("name" in params) == ("targets" in params):
        return []  # OneKeyOrTargets said so, or the one given was refused
    if not is_bulk(params):
        key = (
            live_key(problems, params["name"])
            if team_may_use(problems, team, params["name"])
            else None
        )
        return [key] if key else []
    names = targets_of(params)
    foreign = [name for name in names if not name.startswith(team.key_prefix)]
    if foreign:
        problems.add(
            "targets",
            f"Team {team.slug} may only use keys named {team.key_prefix}*: {_list(foreign)}.",
        )
        return []
    rows = {row.name.lower(): row for row in keys_named(names)}  # names in any case, as the HSM
    missing = [
        n for n in names if rows.get(n.lower()) is None or rows[n.lower()].state == KeyState.PURGED
    ]
    gone = [n for n in names if n.lower() in rows and rows[n.lower()].state == KeyState.DELETED]
    if missing:
        problems.add("targets", f"Not in the HSM inventory: {_list(missing)}.")
    if gone:
        problems.add("targets", f"Deleted (recover first): {_list(gone)}.")
    return [] if missing or gone else [rows[name.lower()] for name in names]


def _list(names: Iterable[str]) -> str:
    names = list(names)
    shown = ", ".join(names[:SHOWN_IN_PREVIEW])
    more = len(names) - SHOWN_IN_PREVIEW
    return shown + (f" and {more} more" if more > 0 else "")


class BulkTargets:
    """Mixed into an OperationSpec whose params take `name` or `targets`: the request's key
    label, its preview and its key-by-key execution."""

    def key_name(self, params: dict) -> str:
        names = targets_of(params)
        return names[0] if len(names) == 1 else f"{names[0]} +{len(names) - 1} more"

    def single(self, params: dict, name: str) -> dict:
        return {**{k: v for k, v in params.items() if k != "targets"}, "name": name}

    def preview_one(self, params: dict, *, request_id: Any = None) -> str:
        return super().preview(params, request_id=request_id)

    def preview(self, params: dict, *, request_id: Any = None) -> str:
        if not is_bulk(params):
            return self.preview_one(params, request_id=request_id)
        names = targets_of(params)
        one = self.preview_one(self.single(params, names[0]), request_id=request_id)
        return f"For each of {len(names)} keys ({_list(names)}), as for {names[0]}: {one}"

    def execute(self, ctx: ExecutionContext):
        if not is_bulk(ctx.change.params):
            return super().execute(ctx)
        return run_key_by_key(self, ctx)


def run_key_by_key(spec, ctx: ExecutionContext):
    """Run `spec` for each target not done by an earlier attempt, recording each key's
    inventory in its own transaction and the progress in the checkpoint. Transient HSM
    errors end the attempt (the next resumes after the done keys); permanent ones fail that
    key only. Raises PartialFailure when any key failed."""
    change, targets = ctx.change, targets_of(ctx.change.params)
    done, failed, request_ids = list(ctx.checkpoint.get(DONE, [])), {}, []
    for name in targets:
        if name in done:
            continue
        params = spec.single(change.params, name)
        one = ExecutionContext(
            change=SimpleNamespace(
                pk=change.pk, params=params, key_name=name, payload_hash=change.payload_hash
            ),
            gateway=ctx.gateway,
            checkpoint={},
            save_checkpoint=lambda values: None,
        )
        try:
            outcome = spec.outcome(one, run_plan(spec.plan(params, request_id=change.pk), one))
        except HsmTransientError:
            raise
        except HsmError as error:
            failed[name] = error.as_dict()
        else:
            with transaction.atomic():
                outcome.record_inventory(timezone.now())
            done.append(name)
            request_ids.extend(outcome.hsm_request_ids)
        ctx.remember({DONE: done, FAILED: failed})
    result = {"targets": len(targets), "succeeded": sorted(done), "failed": failed}
    if failed:
        raise PartialFailure(result)
    return Outcome(result=result, hsm_request_ids=request_ids)


def progress(change, checkpoint: dict) -> dict | None:
    """How far a bulk request got: total, done, failed (from the latest attempt)."""
    if not is_bulk(change.params):
        return None
    return {
        "total": len(change.params["targets"]),
        "done": len(checkpoint.get(DONE, [])),
        "failed": len(checkpoint.get(FAILED, {})),
    }
