"""Rotation through KeyClient: rotate, rotation policies and the automatic rotation tick."""

from __future__ import annotations

import datetime
import time

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.keys import (
    KeyRotationLifetimeAction,
    KeyRotationPolicy,
    KeyRotationPolicyAction,
)
from emulator_helpers import (
    error_code,
)

UTC = datetime.timezone.utc


@pytest.mark.parametrize(
    ("_case", "create"),
    [
        ("rsa", lambda keys, name: keys.create_rsa_key(name, size=2048, key_operations=["sign"])),
        ("ec", lambda keys, name: keys.create_ec_key(name, curve="P-521")),
        ("oct", lambda keys, name: keys.create_oct_key(name, size=192)),
    ],
)
def test_rotate_creates_version_with_same_type_size_and_ops(_case, create, user, key_name):
    original = create(user.keys, key_name)

    rotated = user.keys.rotate_key(key_name)

    assert rotated.properties.version != original.properties.version
    assert rotated.key_type == original.key_type
    assert rotated.key.crv == original.key.crv
    assert len(rotated.key.n or b"") == len(original.key.n or b"")
    assert rotated.key_operations == original.key_operations
    assert user.keys.get_key(key_name).id == rotated.id


def test_rotate_missing_key_is_not_found(user, key_name):
    with pytest.raises(ResourceNotFoundError):
        user.keys.rotate_key(key_name)


def test_rotation_policy_defaults_to_notify_30_days_before_expiry(hsm, user, key_name):
    user.keys.create_ec_key(key_name)

    policy = user.keys.get_key_rotation_policy(key_name)

    assert policy.id == f"{hsm.url}/keys/{key_name}/rotationpolicy"
    assert [(a.action, a.time_before_expiry) for a in policy.lifetime_actions] == [
        ("Notify", "P30D")
    ]


def test_rotation_policy_round_trips_with_canonical_action_names(user, key_name):
    user.keys.create_ec_key(key_name)
    policy = KeyRotationPolicy(
        expires_in="P90D",
        lifetime_actions=[
            KeyRotationLifetimeAction("rotate", time_after_create="P30D"),
            KeyRotationLifetimeAction("NOTIFY", time_before_expiry="P7D"),
        ],
    )

    stored = user.keys.update_key_rotation_policy(key_name, policy)
    fetched = user.keys.get_key_rotation_policy(key_name)

    assert stored.expires_in == fetched.expires_in == "P90D"
    assert [
        (a.action, a.time_after_create, a.time_before_expiry) for a in fetched.lifetime_actions
    ] == [
        (KeyRotationPolicyAction.rotate, "P30D", None),
        (KeyRotationPolicyAction.notify, None, "P7D"),
    ]
    assert fetched.created_on == stored.created_on
    assert fetched.updated_on is not None


@pytest.mark.parametrize(
    ("_case", "actions", "expires_in", "message"),
    [
        ("expiry-below-28-days", [], "P27D", "at least 28 days"),
        ("bad-duration", [("Rotate", "P1X", None)], None, "not a valid ISO-8601 duration"),
        ("notify-after-create", [("Notify", "P30D", None)], None, "only allowed for the Rotate"),
        ("two-triggers", [("Rotate", "P30D", "P7D")], None, "exactly one of"),
        ("no-trigger", [("Rotate", None, None)], None, "exactly one of"),
        ("two-rotates", [("Rotate", "P30D", None), ("Rotate", "P60D", None)], None, "At most one"),
        ("unknown-type", [("Explode", "P30D", None)], None, "Invalid lifetime action type"),
    ],
)
def test_rotation_policy_validation_is_bad_parameter(
    _case, actions, expires_in, message, user, key_name
):
    user.keys.create_ec_key(key_name)
    policy = KeyRotationPolicy(
        expires_in=expires_in,
        lifetime_actions=[
            KeyRotationLifetimeAction(kind, time_after_create=after, time_before_expiry=before)
            for kind, after, before in actions
        ],
    )

    with pytest.raises(HttpResponseError) as raised:
        user.keys.update_key_rotation_policy(key_name, policy)

    assert (raised.value.status_code, error_code(raised.value)) == (400, "BadParameter")
    assert message in raised.value.message


def test_rotate_sets_expiry_from_policy_expiry_time(user, key_name):
    user.keys.create_ec_key(key_name)
    user.keys.update_key_rotation_policy(key_name, KeyRotationPolicy(expires_in="P30D"))
    before = datetime.datetime.now(UTC).replace(microsecond=0)

    rotated = user.keys.rotate_key(key_name)

    expected = before + datetime.timedelta(days=30)
    assert expected <= rotated.properties.expires_on <= expected + datetime.timedelta(seconds=5)


def test_due_rotation_policy_rotates_on_tick(hsm, user, key_name):
    original = user.keys.create_ec_key(key_name)
    policy = KeyRotationPolicy(
        lifetime_actions=[KeyRotationLifetimeAction("Rotate", time_after_create="PT1S")]
    )
    user.keys.update_key_rotation_policy(key_name, policy)
    user.keys.update_key_properties(key_name, tags={"t": "1"})  # updated stamp moves, created not

    rotated_names = _tick_until(hsm, key_name)

    assert key_name in rotated_names
    assert user.keys.get_key(key_name).properties.version != original.properties.version


def test_rotation_due_before_expiry_rotates_on_tick(hsm, user, key_name):
    soon = datetime.datetime.now(UTC) + datetime.timedelta(days=10)
    original = user.keys.create_ec_key(key_name, expires_on=soon)
    policy = KeyRotationPolicy(
        expires_in="P90D",
        lifetime_actions=[KeyRotationLifetimeAction("Rotate", time_before_expiry="P30D")],
    )
    user.keys.update_key_rotation_policy(key_name, policy)

    rotated_names = hsm.rotation_tick()

    latest = user.keys.get_key(key_name)
    assert key_name in rotated_names
    assert latest.properties.version != original.properties.version
    assert latest.properties.expires_on > soon + datetime.timedelta(days=70)


def test_rotation_not_yet_due_leaves_the_key_alone(hsm, user, key_name):
    original = user.keys.create_ec_key(key_name)
    policy = KeyRotationPolicy(
        lifetime_actions=[KeyRotationLifetimeAction("Rotate", time_after_create="P30D")]
    )
    user.keys.update_key_rotation_policy(key_name, policy)

    rotated_names = hsm.rotation_tick()

    assert key_name not in rotated_names
    assert user.keys.get_key(key_name).id == original.id


def _tick_until(hsm, key_name):
    deadline = time.monotonic() + 5
    rotated: list[str] = []
    while key_name not in rotated and time.monotonic() < deadline:
        time.sleep(0.5)
        rotated = hsm.rotation_tick()
    return rotated
