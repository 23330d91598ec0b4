"""Soft delete, recover and purge. Each checks the HSM first, so a repeated attempt that finds
the work done counts as success instead of failing on 404/409."""

from __future__ import annotations

from approvals.models import Operation
from approvals.operations.base import ExecutionContext, NamedKeyOperation, Outcome, call
from keys.gateway import HsmNotFound
from keys.models import KeyState
from keys.services.inventory import record_key_applied, record_key_deleted, record_key_purged


class KeyDelete(NamedKeyOperation):
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


class KeyRecover(NamedKeyOperation):
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


class KeyPurge(NamedKeyOperation):
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
