"""Rotations the HSM makes by itself (ROTATION.md §5): the sync records `key.rotated_by_hsm` on the
key's timeline instead of drift. The emulator's clock is advanced past the policy's trigger and its
rotation tick does the rotating, as Managed HSM's timer would."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from audit.context import AuditContext
from audit.models import AuditEvent
from keys import drift
from keys.gateway import LifetimeAction, get_gateway, get_probe_gateway
from keys.models import KeyWarning, ManagedKey
from keys.services.inventory import record_key_applied
from keys.services.sync import rotated_by_hsm, sync_inventory
from keys.services.warnings import send_pending_warnings
from tests.support.hsm import start_test_hsm

CTX = AuditContext.system("test")
UNMANAGED = "Created outside Keywarden (unmanaged key)."
POLICY = {
    "lifetime_actions": [{"action": "Rotate", "time_after_create": "P30D"}],
    "expiry_time": "P1Y",
}


def _point_gateways_at(process) -> None:
    settings.HSM_URL, settings.HSM_CA_FILE = process.url, process.ca_path
    get_gateway.cache_clear()
    get_probe_gateway.cache_clear()


@pytest.fixture(scope="module")
def aged_session(hsm_session, tmp_path_factory):
    """An emulator of this module's own: its clock moves forward for good, so the session's
    shared one is left alone (the gateways point back at it afterwards)."""
    aged = start_test_hsm(tmp_path_factory.mktemp("aged-hsm"))
    yield aged
    aged.process.stop()
    _point_gateways_at(hsm_session.process)


@pytest.fixture
def hsm(aged_session):
    _point_gateways_at(aged_session.process)
    aged_session.reset()
    return aged_session


def sync():
    return sync_inventory(ctx=CTX)


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("sequence"))


def _let_the_hsm_rotate(hsm, name: str):
    """Age the HSM past the P30D trigger and run its rotation pass; the new current version."""
    hsm.process.advance_clock("P31D")
    hsm.process.rotation_tick()
    return hsm.operator.get_key(name)


def _policy(gateway, name: str) -> None:
    gateway.set_rotation_policy(
        name, expires_in="P1Y", lifetime_actions=[LifetimeAction("Rotate", "P30D")]
    )


def test_policy_rotation_is_recorded_on_the_timeline_not_as_drift(hsm, payments_team):
    # given: a key Keywarden made with a rotate-after-30-days policy, in the inventory
    made = hsm.keywarden.create_key("pay-auto", kty="EC-HSM", curve="P-256")
    _policy(hsm.keywarden, "pay-auto")
    record_key_applied(key=made, now=timezone.now(), rotation_policy=POLICY)
    sync()
    # when: 31 days pass in the HSM and its timer rotates the key
    rotated = _let_the_hsm_rotate(hsm, "pay-auto")
    sync()
    sync()
    # then
    row = ManagedKey.objects.get(name="pay-auto")
    [event] = events("key.rotated_by_hsm")
    assert rotated.version != made.version
    assert (event.before, event.after) == ({"version": made.version}, {"version": rotated.version})
    assert (event.target_type, event.target_name, event.team_slug) == (
        "keys.managedkey",
        "pay-auto",
        "payments",
    )
    assert (row.current_version, row.version_count) == (rotated.version, 2)
    assert (row.has_drift, row.drift_reasons) == (False, [])
    assert events("key.drift_detected") == []


def test_policy_rotation_warns_the_owners_once(hsm, payments_team, requester, mailoutbox):
    # given
    made = hsm.keywarden.create_key("pay-warned", kty="EC-HSM", curve="P-256")
    _policy(hsm.keywarden, "pay-warned")
    record_key_applied(key=made, now=timezone.now(), rotation_policy=POLICY)
    sync()
    # when: the HSM rotates it, the sync sees it (twice), and the warnings are sent
    rotated = _let_the_hsm_rotate(hsm, "pay-warned")
    sync()
    sync()
    sent = send_pending_warnings(now=timezone.now(), ctx=CTX)
    # then
    [warning] = KeyWarning.objects.all()
    assert (warning.key.name, warning.kind, warning.version, warning.threshold) == (
        "pay-warned",
        "rotated_by_hsm",
        rotated.version,
        "",
    )
    assert warning.detail == f"Version {made.version} was replaced by {rotated.version}."
    assert (sent, warning.recipients) == ((1, 0, 0), [requester.email])
    assert [(m.subject, m.to) for m in mailoutbox] == [
        ("[Keywarden] pay-warned rotated by the HSM's policy", [requester.email])
    ]


def test_unmanaged_key_rotated_by_its_policy_gets_the_event_and_no_new_drift(hsm, payments_team):
    # given: an operator creates a key with a rotate-after-30-days policy behind our back
    made = hsm.operator.create_key("pay-outside", kty="EC-HSM", curve="P-256")
    _policy(hsm.operator, "pay-outside")
    sync()
    # when
    rotated = _let_the_hsm_rotate(hsm, "pay-outside")
    sync()
    # then: still unmanaged (that drift stays), but the rotation itself is the HSM's
    row = ManagedKey.objects.get(name="pay-outside")
    [event] = events("key.rotated_by_hsm")
    assert (event.before, event.after) == ({"version": made.version}, {"version": rotated.version})
    assert (row.current_version, row.drift_reasons) == (rotated.version, [UNMANAGED])
    assert [e.target_name for e in events("key.drift_detected")] == ["pay-outside"]


def test_new_version_without_a_rotate_policy_is_still_drift(hsm, payments_team):
    # given: a managed key without any Rotate action
    made = hsm.keywarden.create_key("pay-manual", kty="EC-HSM", curve="P-256")
    record_key_applied(key=made, now=timezone.now())
    sync()
    # when: someone makes a new version directly in the HSM, and time passes
    rotated = hsm.operator.rotate_key("pay-manual")
    assert _let_the_hsm_rotate(hsm, "pay-manual").version == rotated.version  # no policy
    sync()
    # then
    row = ManagedKey.objects.get(name="pay-manual")
    assert row.has_drift is True
    assert row.drift_reasons == [
        f"Rotated outside Keywarden: version {made.version} → {rotated.version}."
    ]
    assert events("key.rotated_by_hsm") == []


def test_a_rotation_keywarden_made_is_not_attributed_to_the_hsm(hsm, payments_team):
    made = hsm.keywarden.create_key("pay-ours", kty="EC-HSM", curve="P-256")
    _policy(hsm.keywarden, "pay-ours")
    record_key_applied(key=made, now=timezone.now(), rotation_policy=POLICY)
    sync()

    ours = hsm.keywarden.rotate_key("pay-ours")
    record_key_applied(key=ours, now=timezone.now())
    sync()

    assert ManagedKey.objects.get(name="pay-ours").current_version == ours.version
    assert events("key.rotated_by_hsm") == []


def test_the_key_page_timeline_lists_the_hsm_rotation(hsm, requester, payments_team):
    made = hsm.keywarden.create_key("pay-page", kty="EC-HSM", curve="P-256")
    _policy(hsm.keywarden, "pay-page")
    record_key_applied(key=made, now=timezone.now(), rotation_policy=POLICY)
    sync()
    _let_the_hsm_rotate(hsm, "pay-page")
    sync()
    client = Client()
    client.force_login(requester)

    html = client.get("/keys/pay-page/").content.decode()

    assert "Key rotated by the HSM <code" in html
    assert "key.rotated_by_hsm" in html


def _snapshot(version: str, policy: dict | None, state: str = "active") -> dict:
    return drift.snapshot(
        state=state,
        enabled=True,
        key_ops=[],
        tags={},
        not_before=None,
        expires_on=None,
        current_version=version,
        rotation_policy=policy,
    )


@pytest.mark.parametrize(
    ("_case", "observed", "applied", "previous", "expected"),
    [
        ("policy applied by us", _snapshot("v2", POLICY), _snapshot("v1", POLICY), "v1", True),
        # a managed key whose policy came from outside: its new version is drift, as before
        (
            "policy seen only in the HSM",
            _snapshot("v2", POLICY),
            _snapshot("v1", None),
            "v1",
            False,
        ),
        ("unmanaged key, no policy", _snapshot("v2", None), None, "v1", False),
        ("unmanaged key with a policy", _snapshot("v2", POLICY), None, "v1", True),
        ("no Rotate action", _snapshot("v2", None), _snapshot("v1", None), "v1", False),
        ("same version as mirrored", _snapshot("v1", POLICY), _snapshot("v1", POLICY), "v1", False),
        ("first sighting", _snapshot("v1", POLICY), None, "", False),
        ("the version we applied", _snapshot("v2", POLICY), _snapshot("v2", POLICY), "v1", False),
        ("deleted", _snapshot("v2", POLICY, "deleted"), _snapshot("v1", POLICY), "v1", False),
    ],
)
def test_rotated_by_hsm(_case, observed, applied, previous, expected):
    assert rotated_by_hsm(observed, applied, previous_version=previous) is expected
