"""Rotation: rotation-policy validation, manual rotate, and the automatic rotation tick.

The tick rotates a key when its policy's Rotate action is due: ``timeAfterCreate`` after the
current version was created, or ``timeBeforeExpiry`` before its ``exp``. The same tick purges
deleted keys whose scheduled purge date has passed.
"""

from __future__ import annotations

import datetime
import logging
import threading
from typing import Any

from hsm_emulator import crypto
from hsm_emulator.clock import Clock, parse_span
from hsm_emulator.codec import b64url_decode
from hsm_emulator.errors import bad_parameter
from hsm_emulator.store import KeyVersion, Store, VersionSpec

LOGGER = logging.getLogger("hsm_emulator.rotation")
MIN_EXPIRY = datetime.timedelta(days=28)
_TRIGGERS = ("timeAfterCreate", "timeBeforeExpiry")
DEFAULT_POLICY_ACTIONS = [{"trigger": {"timeBeforeExpiry": "P30D"}, "action": {"type": "Notify"}}]


def parse_duration(text: Any, field: str) -> datetime.timedelta:
    """An ISO-8601 duration as a timedelta (months/years measured from a fixed reference)."""
    if not isinstance(text, str) or not text:
        raise bad_parameter(f"'{field}' must be an ISO-8601 duration such as P30D.")
    try:
        span = parse_span(text)
    except ValueError as exc:
        raise bad_parameter(f"'{field}' is not a valid ISO-8601 duration: {text}") from exc
    if span <= datetime.timedelta(0):
        raise bad_parameter(f"'{field}' must be a positive duration: {text}")
    return span


def _parse_action(item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise bad_parameter("Each lifetime action must be an object with 'trigger' and 'action'.")
    action, trigger = item.get("action"), item.get("trigger")
    if not isinstance(action, dict) or not isinstance(trigger, dict):
        raise bad_parameter("Each lifetime action needs an 'action' and a 'trigger' object.")
    kind = str(action.get("type") or "").lower()
    if kind not in ("rotate", "notify"):
        raise bad_parameter(f"Invalid lifetime action type: {action.get('type')}")
    present = [name for name in _TRIGGERS if trigger.get(name) is not None]
    if len(present) != 1:
        raise bad_parameter(
            "A trigger must have exactly one of 'timeAfterCreate' and 'timeBeforeExpiry'."
        )
    if present[0] == "timeAfterCreate" and kind != "rotate":
        raise bad_parameter("'timeAfterCreate' is only allowed for the Rotate action.")
    parse_duration(trigger[present[0]], f"trigger.{present[0]}")
    return {"trigger": {present[0]: trigger[present[0]]}, "action": {"type": kind.capitalize()}}


def validate_policy(body: dict[str, Any]) -> dict[str, Any]:
    """A canonical policy {lifetimeActions, attributes {expiryTime}} or 400 BadParameter."""
    actions = body.get("lifetimeActions") or []
    if not isinstance(actions, list):
        raise bad_parameter("'lifetimeActions' must be a list.")
    parsed = [_parse_action(item) for item in actions]
    kinds = [item["action"]["type"] for item in parsed]
    for kind in ("Rotate", "Notify"):
        if kinds.count(kind) > 1:
            raise bad_parameter(f"At most one {kind} lifetime action is allowed.")
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise bad_parameter("'attributes' must be an object.")
    expiry = attributes.get("expiryTime")
    if expiry is not None and parse_duration(expiry, "expiryTime") < MIN_EXPIRY:
        raise bad_parameter(f"expiryTime must be at least 28 days (P28D); got {expiry}.")
    return {"lifetimeActions": parsed, "attributes": {"expiryTime": expiry}}


def _new_exp(policy: dict[str, Any] | None, now: int) -> int | None:
    expiry = (policy or {}).get("attributes", {}).get("expiryTime")
    if not expiry:
        return None
    return now + int(parse_duration(expiry, "expiryTime").total_seconds())


def rotate_key(store: Store, name: str, *, now: int) -> KeyVersion:
    """Append a version with the current one's type, size, curve (and RSA exponent); its ops, tags,
    export rules and the policy's expiry are read in the write transaction, so an update that
    commits while the new material is generated is carried over, never lost."""

    def generate(current: KeyVersion) -> crypto.KeyMaterial:
        exponent = current.public.get("e")
        return crypto.generate(
            current.family,
            key_size=current.key_size,
            crv=current.crv,
            public_exponent=int.from_bytes(b64url_decode(exponent), "big") if exponent else None,
        )

    def build(
        current: KeyVersion, policy: dict[str, Any] | None, material: crypto.KeyMaterial
    ) -> VersionSpec:
        return VersionSpec(
            kty=current.kty,
            key_size=material.key_size,
            crv=material.crv,
            key_ops=list(current.key_ops),
            public=material.public,
            secret=material.secret,
            exp=_new_exp(policy, now),
            exportable=current.exportable,
            tags=dict(current.tags),
            release_policy=current.release_policy,
        )

    return store.keys.rotate(name, generate, build, now=now)


def is_rotation_due(latest: KeyVersion, policy: dict[str, Any], now: int) -> bool:
    """True when the policy's Rotate action has come due for ``latest``."""
    for item in policy.get("lifetimeActions", []):
        if item["action"]["type"] != "Rotate":
            continue
        trigger = item["trigger"]
        if "timeAfterCreate" in trigger:
            span = parse_duration(trigger["timeAfterCreate"], "timeAfterCreate")
            return now >= latest.created + span.total_seconds()
        span = parse_duration(trigger["timeBeforeExpiry"], "timeBeforeExpiry")
        return latest.exp is not None and now >= latest.exp - span.total_seconds()
    return False


def run_tick(store: Store, *, now: int) -> list[str]:
    """One pass of automatic rotation and expired-deletion purging; returns rotated names."""
    rotated = []
    for latest, policy in store.keys.policies():
        if is_rotation_due(latest, policy, now):
            rotate_key(store, latest.name, now=now)
            rotated.append(latest.name)
    store.keys.purge_expired(now=now)
    return rotated


class RotationTicker:
    """Background thread calling ``run_tick`` every ``interval`` seconds (real time) until
    stopped; each pass judges what is due by ``clock``, the emulator's shifted time."""

    def __init__(self, store: Store, clock: Clock, interval: float) -> None:
        self._store = store
        self._clock = clock
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rotation-tick", daemon=True)

    def start(self) -> None:
        """Start ticking (the first tick runs one interval after start)."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current tick."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                run_tick(self._store, now=self._clock.now())
            except Exception:
                # A failed tick (e.g. a key purged mid-tick) must not end automatic rotation.
                LOGGER.exception("rotation.tick_failed")
