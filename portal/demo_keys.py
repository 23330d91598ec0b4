"""The demo's keys (ROTATION.md): teams payments and identity, both rotation classes, current
versions aged up to three years, some rotated by an HSM policy, some expiring, some overdue, a
few disabled — so compliance, warnings and the dashboard show real variety on first start.

The HSM is the source of truth for ages: each key is created in the emulator at its age on the
emulator's own clock, which starts three years behind real time in a new demo HSM
(`--clock-start-behind`) and only moves forward: oldest key first, the clock advanced between
them (the HSM's policy rotations run at each step), then brought to real time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from keys.gateway import HsmGateway, LifetimeAction
from keys.models import ROTATION_CLASS_TAG
from keys.services.bootstrap import bootstrap_keywarden_role
from posture.demo import seed_posture_demo

DAY = 86400
# How far behind real time a new demo HSM's clock starts (the oldest key is a little younger).
DEMO_HISTORY = "P3Y"
DEMO_TAG = "keywarden-demo"


class EmulatorClock(Protocol):
    """The emulator's control calls the seed needs (hsm_emulator.client.launcher)."""

    def clock(self) -> dict[str, Any]: ...

    def advance_clock(self, duration: int) -> dict[str, Any]: ...

    def rotation_tick(self) -> list[str]: ...


@dataclass(frozen=True)
class DemoKey:
    """One demo key: made `age_days` ago; `rotate_after` gives it an HSM Rotate action
    (timeAfterCreate, new versions expiring after `expires_after`); `expires_in_days` an expiry
    that many days from now."""

    name: str
    key_class: str
    age_days: int
    kty: str
    size: int | None = None
    curve: str | None = None
    key_ops: tuple[str, ...] = ("sign", "verify")
    rotate_after: str | None = None
    expires_after: str | None = None
    expires_in_days: int | None = None
    enabled: bool = True


RSA, EC, OCT = "RSA-HSM", "EC-HSM", "oct-HSM"
WRAP = ("wrapKey", "unwrapKey")
CIPHER = ("encrypt", "decrypt", "wrapKey", "unwrapKey")
# What each should come out as under the seeded standards (standard P2Y, active P90D, warn P30D).
DEMO_KEYS = (
    DemoKey("pay-ledger-signing", "standard", 1040, EC, curve="P-256"),  # overdue
    DemoKey("pay-archive-2023", "standard", 1000, RSA, size=2048, key_ops=WRAP, enabled=False),
    DemoKey("pay-card-tokens", "standard", 712, RSA, size=2048, key_ops=WRAP),  # due soon
    DemoKey("pay-settlement-wrap", "standard", 420, RSA, size=2048, key_ops=WRAP),  # no rotation
    DemoKey("pay-vendor-export", "standard", 240, EC, curve="P-256", expires_in_days=12),
    DemoKey(
        "pay-fraud-model", "standard", 150, RSA, size=2048, rotate_after="P1Y", expires_after="P2Y"
    ),  # compliant: the HSM rotates it
    DemoKey("pay-api-tls", "active", 130, EC, curve="P-384"),  # overdue
    DemoKey("pay-webhook-signing", "active", 72, EC, curve="P-256"),  # due soon
    DemoKey(
        "pay-session-keys",
        "active",
        25,
        OCT,
        size=256,
        key_ops=CIPHER,
        rotate_after="P60D",
        expires_after="P90D",
    ),  # compliant: the HSM rotates it
    DemoKey("idn-legacy-ldap", "standard", 1090, RSA, size=2048, enabled=False),
    DemoKey("idn-saml-signing", "standard", 880, RSA, size=2048),  # overdue
    DemoKey(
        "idn-password-pepper", "standard", 600, OCT, size=256, key_ops=CIPHER, expires_in_days=5
    ),  # expiring soon
    DemoKey("idn-directory-wrap", "standard", 45, RSA, size=2048, key_ops=WRAP),  # no rotation
    DemoKey(
        "idn-token-signing",
        "active",
        400,
        EC,
        curve="P-256",
        rotate_after="P60D",
        expires_after="P90D",
    ),  # rotated by the HSM every 60 days since
    DemoKey("idn-oidc-jwks", "active", 95, EC, curve="P-256"),  # overdue
    DemoKey("idn-device-attest", "active", 65, EC, curve="P-384", expires_in_days=20),
    DemoKey("idn-mfa-seeds", "active", 10, OCT, size=256, key_ops=CIPHER),  # no rotation
)


def seed_demo_hsm(
    *, admin_gateway: HsmGateway, gateway: HsmGateway, clock: EmulatorClock, now: datetime
) -> list[str]:
    """Create the DEMO_KEYS the HSM lacks, each at its age, then move the emulator's clock to
    real time and let the HSM rotate what its policies make due. Only while the clock is behind
    (a new demo HSM, or a seed that was interrupted): otherwise nothing happens, so a second
    run changes nothing. Returns the names created."""
    if clock.clock()["offset_seconds"] >= 0:
        return []
    bootstrap_keywarden_role(admin_gateway=admin_gateway)  # Keywarden creates the keys
    present = {listing.name for listing in gateway.list_keys()}
    created = []
    for spec in sorted(DEMO_KEYS, key=lambda spec: -spec.age_days):
        _move_clock_to(clock, -spec.age_days * DAY)
        if spec.name not in present:
            _create(gateway, spec, now=now)
            created.append(spec.name)
        clock.rotation_tick()  # the HSM's own rotations of the keys made so far
    _move_clock_to(clock, 0)
    clock.rotation_tick()
    seed_posture_demo(admin_gateway=admin_gateway, key_name="pay-card-tokens")
    return created


def _move_clock_to(clock: EmulatorClock, offset_seconds: int) -> None:
    """Forward to `offset_seconds` behind (negative) real time; never back (a resumed seed
    makes its remaining keys a little younger than planned)."""
    current = clock.clock()["offset_seconds"]
    if offset_seconds > current:
        clock.advance_clock(offset_seconds - current)


def _create(gateway: HsmGateway, spec: DemoKey, *, now: datetime) -> None:
    expires_on = now + timedelta(days=spec.expires_in_days) if spec.expires_in_days else None
    gateway.create_key(
        spec.name,
        kty=spec.kty,
        size=spec.size,
        curve=spec.curve,
        key_ops=list(spec.key_ops),
        enabled=spec.enabled,
        expires_on=expires_on,
        tags={ROTATION_CLASS_TAG: spec.key_class, DEMO_TAG: "true"},
    )
    if spec.rotate_after:
        gateway.set_rotation_policy(
            spec.name,
            lifetime_actions=[LifetimeAction("Rotate", time_after_create=spec.rotate_after)],
            expires_in=spec.expires_after,
        )
