"""The work a chaos scenario puts through the pipeline: a fresh set of key.create, key.rotate
and role.assign requests, submitted with a first approval, then given their last one."""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass

from django.db import transaction

from bench.bench_pipeline import final_approval, submit_with_first_approval

EC_KEY = {"kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign", "verify"]}
CRYPTO_USER = "Managed HSM Crypto User"
# Of every 10 requests: 6 creates, 3 rotates, 1 role assignment.
MIX = ("key.create",) * 6 + ("key.rotate",) * 3 + ("role.assign",)


@dataclass(frozen=True)
class Planned:
    """One request to make: its operation, parameters and the key it is about."""

    operation: str
    key: str
    params: dict


def plan(scenario: str, count: int, rng: random.Random, *, mix=MIX) -> list[Planned]:
    """`count` requests, each on a key of its own (one open request per key)."""
    planned = []
    for n in range(count):
        operation = mix[n % len(mix)]
        key = f"pay-{scenario}-{n}"
        if operation == "key.create":
            params = {"name": key, **EC_KEY}
        elif operation == "key.rotate":
            params = {"name": key}
        else:
            params = {
                "role": CRYPTO_USER,
                "principal_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "principal_type": "ServicePrincipal",
                "scope": f"/keys/{key}",
            }
        planned.append(Planned(operation, key, params))
    rng.shuffle(planned)
    return planned


def prepare_keys(hsm, planned: list[Planned]) -> None:
    """Keys to rotate or assign on exist with one version, made out of band and then
    mirrored by an inventory sync (the request forms only offer live inventory keys)."""
    from audit.context import AuditContext
    from keys.services.sync import sync_inventory

    existing = [p.key for p in planned if p.operation != "key.create"]
    for name in existing:
        hsm.operator.create_key(name, **EC_KEY)
    if existing:
        sync_inventory(ctx=AuditContext.system("bench"))


def submit_all(users, planned: list[Planned]) -> list:
    """Pending requests with their first approval (not timed)."""
    return [
        submit_with_first_approval(users, item.operation, item.params, "chaos bench")
        for item in planned
    ]


def approve_paced(changes, users, *, spread: float, batch: int = 5) -> None:
    """Give the last approvals in batches evenly over `spread` seconds, so the chaos finds
    work at every stage: queued, running, retrying."""
    batches = [changes[i : i + batch] for i in range(0, len(changes), batch)]
    started = time.monotonic()
    for number, group in enumerate(batches):
        time.sleep(max(0.0, started + spread * number / len(batches) - time.monotonic()))
        with transaction.atomic():  # one commit per batch: its dispatches leave together
            for change in group:
                final_approval(change, users)


def approve_backlog(stack, changes, users, *, batch: int = 10) -> None:
    """The whole backlog approved and queued while the execution workers are down (as after
    an outage), then the workers back. Short transactions: a message is in the broker before
    its dispatch is REDISPATCH_AFTER old, as in production, so the sweeper leaves it alone."""
    for worker in stack.workers:
        worker.stop()
    for start in range(0, len(changes), batch):
        with transaction.atomic():
            for change in changes[start : start + batch]:
                final_approval(change, users)
    for worker in stack.workers:
        stack.start_worker(worker)


def wait_terminal(changes, *, timeout: float) -> float:
    """Poll until every request has SUCCEEDED or FAILED, at most `timeout` seconds; returns
    the seconds waited."""
    from approvals.models import FINISHED_STATES, ChangeRequest

    ids, started = [c.pk for c in changes], time.monotonic()
    while time.monotonic() - started < timeout:
        done = ChangeRequest.objects.filter(pk__in=ids, state__in=FINISHED_STATES).count()
        if done == len(ids):
            break
        time.sleep(0.25)
    return time.monotonic() - started


def people():
    """The requester (team payments, keys pay-*) and two custodians."""
    from bench.bench_pipeline import people as pipeline_people

    return pipeline_people()
