"""Soft delete, recover and purge. Each checks the HSM first (or reads its refusal), so a
repeated attempt that finds the work done counts as success instead of failing on 404/409."""

from __future__ import annotations

from approvals.models import Operation
from approvals.operations.base import NamedKeyOperation, Outcome, request_ids
from approvals.operations.plan import HsmCall, KeyGone, KeyLive, PurgedBefore
from keys.models import KeyState
from keys.services.inventory import record_key_applied, record_key_deleted, record_key_purged


class KeyDelete(NamedKeyOperation):
    operation = Operation.KEY_DELETE
    required_state, state_hint = KeyState.ACTIVE, "Only a live key can be deleted"

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        return [HsmCall("delete_key", params["name"], already_done=KeyGone(params["name"]))]

    def outcome(self, ctx, results) -> Outcome:
        deleted = results[0]
        purge_on = deleted.scheduled_purge_on
        return Outcome(
            result={
                "key": ctx.change.key_name,
                "recovery_id": deleted.recovery_id,
                "scheduled_purge_on": purge_on.isoformat() if purge_on else None,
            },
            hsm_request_ids=request_ids(deleted.request_id),
            record_inventory=lambda now: record_key_deleted(deleted=deleted, now=now),
        )


class KeyRecover(NamedKeyOperation):
    operation = Operation.KEY_RECOVER
    required_state, state_hint = KeyState.DELETED, "Only a deleted key can be recovered"

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        return [HsmCall("recover_key", params["name"], already_done=KeyLive(params["name"]))]

    def outcome(self, ctx, results) -> Outcome:
        key = results[0]
        return Outcome(
            result={"key": ctx.change.key_name, "version": key.version},
            hsm_request_ids=request_ids(key.request_id),
            record_inventory=lambda now: record_key_applied(key=key, now=now),
        )


class KeyPurge(NamedKeyOperation):
    operation = Operation.KEY_PURGE
    high_risk = True
    required_state, state_hint = KeyState.DELETED, "Only a deleted key can be purged"

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        return [HsmCall("purge_key", params["name"], already_done=PurgedBefore(params["name"]))]

    def outcome(self, ctx, results) -> Outcome:
        name = ctx.change.key_name
        return Outcome(
            result={"key": name, "purged": True},
            hsm_request_ids=request_ids(results[0]),
            record_inventory=lambda now: record_key_purged(name=name, now=now),
        )
