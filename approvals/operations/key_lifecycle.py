"""Soft delete, recover and purge. Each checks the HSM first, so a repeated attempt that finds
the work done counts as success instead of failing on 404/409."""

from __future__ import annotations

from approvals.models import Operation
from approvals.operations.base import Checked, ExecutionContext, OperationSpec, Outcome, call
from keys.gateway import HsmNotFound
from keys.models import KeyState, ManagedKey
from keys.services.inventory import record_key_applied, record_key_deleted, record_key_purged
from portal.models import Team


def key_in_state(checked: Checked, name: str | None, state: str, hint: str) -> None:
    key = ManagedKey.objects.filter(name=name).first() if name else None
    if name and (key is None or key.state != state):
        found = "no such key" if key is None else f"it is {key.state}"
        checked.errors.add("name", f"{hint} ({name}: {found}).")


class _OnNamedKey(OperationSpec):
    fields = ("name",)
    required_state: str
    state_hint: str

    def validate(self, params: dict, *, team: Team) -> dict:
        checked = self.check(params)
        name = checked.key_name(team)
        key_in_state(checked, name, self.required_state, self.state_hint)
        checked.errors.raise_if_any()
        return {"name": name}


class KeyDelete(_OnNamedKey):
    operation = Operation.KEY_DELETE
    required_state, state_hint = KeyState.ACTIVE, "Only a live key can be deleted"

    def preview(self, params: dict) -> str:
        return call("begin_delete_key", params["name"]) + " (soft delete: recoverable)"

    def execute(self, ctx: ExecutionContext) -> Outcome:
        name = ctx.change.key_name
        if ctx.gateway.find_key(name) is None:
            deleted = ctx.gateway.get_deleted_key(name)  # done before; NotFound fails
        else:
            deleted = ctx.gateway.delete_key(name)
        return Outcome(
            result={
                "key": name,
                "recovery_id": deleted.recovery_id,
                "scheduled_purge_on": deleted.scheduled_purge_on.isoformat()
                if deleted.scheduled_purge_on
                else None,
            },
            hsm_request_ids=[deleted.request_id] if deleted.request_id else [],
            record_inventory=lambda now: record_key_deleted(deleted=deleted, now=now),
        )


class KeyRecover(_OnNamedKey):
    operation = Operation.KEY_RECOVER
    required_state, state_hint = KeyState.DELETED, "Only a deleted key can be recovered"

    def preview(self, params: dict) -> str:
        return call("begin_recover_deleted_key", params["name"])

    def execute(self, ctx: ExecutionContext) -> Outcome:
        name = ctx.change.key_name
        key = ctx.gateway.find_key(name) or ctx.gateway.recover_key(name)
        return Outcome(
            result={"key": name, "version": key.version},
            hsm_request_ids=[key.request_id] if key.request_id else [],
            record_inventory=lambda now: record_key_applied(key=key, now=now),
        )


class KeyPurge(_OnNamedKey):
    operation = Operation.KEY_PURGE
    high_risk = True
    required_state, state_hint = KeyState.DELETED, "Only a deleted key can be purged"

    def preview(self, params: dict) -> str:
        return call("purge_deleted_key", params["name"]) + " (permanent: cannot be undone)"

    def execute(self, ctx: ExecutionContext) -> Outcome:
        name = ctx.change.key_name
        try:
            request_id = ctx.gateway.purge_key(name)
        except HsmNotFound:
            if ctx.gateway.find_key(name) is not None:
                raise  # live again (recovered elsewhere): purging it would be wrong
            request_id = ""  # already purged by an earlier attempt
        return Outcome(
            result={"key": name, "purged": True},
            hsm_request_ids=[request_id] if request_id else [],
            record_inventory=lambda now: record_key_purged(name=name, now=now),
        )
