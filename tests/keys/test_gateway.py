"""The HSM gateway against the emulator through the real Azure SDK (no mocks)."""

import time
from datetime import UTC, datetime, timedelta

import pytest

from hsm_emulator.client.credentials import EmulatorCredential
from keys.gateway import (
    HsmConflict,
    HsmForbidden,
    HsmGateway,
    HsmInvalid,
    HsmNotFound,
    HsmThrottled,
    HsmUnavailable,
    LifetimeAction,
    RetryPolicy,
    build_gateway,
)
from keys.gateway.translate import UNREACHABLE
from keys.hsm_role import REQUIRED_DATA_ACTIONS
from tests.support.hsm import CRYPTO_USER, ROLE_ID_PREFIX

STRANGER_OID = "00000000-0000-0000-0000-0000000000d1"


def calls_to(hsm, seq, method, path):
    return [r["status"] for r in hsm.calls_since(seq) if (r["method"], r["path"]) == (method, path)]


@pytest.mark.parametrize(
    ("_case", "params", "kty", "size", "curve", "ops"),
    [
        ("rsa", {"kty": "RSA-HSM", "size": 3072}, "RSA-HSM", 3072, None, ("wrapKey", "unwrapKey")),
        ("ec", {"kty": "EC-HSM", "curve": "P-384"}, "EC-HSM", None, "P-384", ("sign", "verify")),
        ("aes", {"kty": "oct-HSM", "size": 256}, "oct-HSM", None, None, ("encrypt", "decrypt")),
    ],
)
def test_create_key_returns_key_info(_case, params, kty, size, curve, ops, hsm):
    key = hsm.keywarden.create_key("pay-created", key_ops=list(ops), **params)
    assert (key.name, key.kty, key.key_size, key.curve) == ("pay-created", kty, size, curve)
    assert key.key_ops == ops
    assert len(key.version) == 32
    assert len(key.request_id) == 36


def test_create_key_with_dates_tags_and_release_policy(hsm):
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    policy = {
        "anyOf": [
            {
                "allOf": [{"claim": "x-ms-sevsnpvm-is-debuggable", "equals": False}],
                "authority": "https://attest.example.com",
            }
        ],
        "version": "1.0.0",
    }
    key = hsm.keywarden.create_key(
        "pay-exportable",
        kty="RSA-HSM",
        size=2048,
        expires_on=expires,
        tags={"app": "orders"},
        exportable=True,
        release_policy=policy,
    )
    assert (key.expires_on, key.tags, key.exportable) == (expires, {"app": "orders"}, True)


def test_get_list_and_versions(hsm):
    gateway = hsm.keywarden
    first = gateway.create_key("pay-listed", kty="EC-HSM", curve="P-256")
    second = gateway.rotate_key("pay-listed")
    gateway.create_key("idn-other", kty="EC-HSM", curve="P-256")
    assert gateway.get_key("pay-listed").version == second.version
    assert gateway.get_key("pay-listed", first.version).version == first.version
    assert sorted(k.name for k in gateway.list_keys()) == ["idn-other", "pay-listed"]
    assert {v.version for v in gateway.list_key_versions("pay-listed")} == {
        first.version,
        second.version,
    }


def test_listing_follows_next_links_past_one_page(hsm):
    for number in range(30):  # the service pages 25 at a time
        hsm.operator.create_key(f"pay-paged-{number:02d}", kty="oct-HSM", size=128)
    assert len(list(hsm.keywarden.list_keys())) == 30


def test_update_key_changes_only_given_properties(hsm):
    hsm.keywarden.create_key("pay-upd", kty="EC-HSM", curve="P-256", tags={"a": "1"})
    key = hsm.keywarden.update_key("pay-upd", enabled=False, key_ops=["sign"])
    assert (key.enabled, key.key_ops, key.tags) == (False, ("sign",), {"a": "1"})


def test_rotation_policy_round_trip(hsm):
    hsm.keywarden.create_key("pay-policy", kty="EC-HSM", curve="P-256")
    actions = [
        LifetimeAction("Rotate", time_after_create="P90D"),
        LifetimeAction("Notify", time_before_expiry="P30D"),
    ]
    hsm.keywarden.set_rotation_policy("pay-policy", lifetime_actions=actions, expires_in="P1Y")
    policy = hsm.keywarden.get_rotation_policy("pay-policy")
    assert policy.as_dict() == {
        "lifetime_actions": [
            {"action": "Rotate", "time_after_create": "P90D"},
            {"action": "Notify", "time_before_expiry": "P30D"},
        ],
        "expiry_time": "P1Y",
    }
    assert policy.rotates_automatically is True


def test_delete_recover_delete_purge(hsm):
    gateway = hsm.keywarden
    gateway.create_key("pay-gone", kty="EC-HSM", curve="P-256")
    deleted = gateway.delete_key("pay-gone")
    assert deleted.recovery_id.endswith("/deletedkeys/pay-gone")
    assert [d.name for d in gateway.list_deleted_keys()] == ["pay-gone"]
    assert gateway.find_key("pay-gone") is None
    assert gateway.recover_key("pay-gone").name == "pay-gone"
    gateway.delete_key("pay-gone")
    assert len(gateway.purge_key("pay-gone")) == 36
    with pytest.raises(HsmNotFound):
        gateway.get_deleted_key("pay-gone")


def test_backup_and_restore_bring_back_every_version(hsm):
    gateway = hsm.keywarden
    first = gateway.create_key("pay-saved", kty="EC-HSM", curve="P-256")
    gateway.rotate_key("pay-saved")
    blob, request_id = gateway.backup_key("pay-saved")
    gateway.delete_key("pay-saved")
    gateway.purge_key("pay-saved")
    restored = gateway.restore_key(blob)
    assert restored.name == "pay-saved"
    assert len(list(gateway.list_key_versions("pay-saved"))) == 2
    assert gateway.get_key("pay-saved", first.version).version == first.version
    assert len(request_id) == 36


def test_role_assignment_create_list_delete(hsm):
    gateway = hsm.keywarden
    assignment = gateway.create_role_assignment(
        scope="/keys/pay-app",
        role_definition_id=ROLE_ID_PREFIX + CRYPTO_USER,
        principal_id=STRANGER_OID,
        name="3f1c2b0e-1111-4a2b-9c3d-000000000001",
    )
    assert (assignment.scope, assignment.role_definition_name) == ("/keys/pay-app", CRYPTO_USER)
    listed = {(a.scope, a.principal_id) for a in gateway.list_role_assignments("/keys")}
    assert ("/keys/pay-app", STRANGER_OID) in listed
    gateway.delete_role_assignment(scope="/keys/pay-app", name=assignment.name)
    listed = {(a.scope, a.principal_id) for a in gateway.list_role_assignments("/keys")}
    assert ("/keys/pay-app", STRANGER_OID) not in listed


def test_keywarden_holds_exactly_its_custom_role(hsm, settings):
    granted = hsm.keywarden.effective_data_actions(settings.HSM_PRINCIPAL_ID, scope="/keys")
    assert granted == set(REQUIRED_DATA_ACTIONS)


# --- domain errors ------------------------------------------------------------------------------
def test_missing_key_is_not_found_with_hsm_message_and_request_id(hsm):
    with pytest.raises(HsmNotFound) as caught:
        hsm.keywarden.get_key("pay-missing")
    assert caught.value.code == "KeyNotFound"
    assert "pay-missing" in caught.value.message
    assert len(caught.value.request_id) == 36


def test_reusing_a_soft_deleted_name_is_a_conflict(hsm):
    hsm.keywarden.create_key("pay-reused", kty="EC-HSM", curve="P-256")
    hsm.keywarden.delete_key("pay-reused")
    with pytest.raises(HsmConflict) as caught:
        hsm.keywarden.create_key("pay-reused", kty="EC-HSM", curve="P-256")
    assert caught.value.status == 409


def test_identity_without_rights_is_forbidden(hsm):
    hsm.keywarden.create_key("pay-private", kty="EC-HSM", curve="P-256")
    with pytest.raises(HsmForbidden) as caught:
        build_gateway(object_id=STRANGER_OID).get_key("pay-private")
    assert caught.value.code == "AccessDenied"


def test_keywarden_may_not_use_keys(hsm):
    with pytest.raises(HsmForbidden):
        hsm.keywarden.set_role_definition(
            name="7a7a7a7a-0000-4000-8000-000000000001",
            role_name="self-promotion",
            description="",
            data_actions=["Microsoft.KeyVault/managedHsm/keys/sign/action"],
        )


def test_rejected_rotation_policy_is_invalid(hsm):
    hsm.keywarden.create_key("pay-short", kty="EC-HSM", curve="P-256")
    with pytest.raises(HsmInvalid) as caught:
        hsm.keywarden.set_rotation_policy(
            "pay-short",
            lifetime_actions=[LifetimeAction("Rotate", time_after_create="P1D")],
            expires_in="P7D",
        )
    assert caught.value.code == "BadParameter"


def test_unreachable_hsm_is_unavailable(caplog):
    gateway = HsmGateway(
        url="https://127.0.0.1:9",
        credential=EmulatorCredential(object_id=STRANGER_OID),
        retry=RetryPolicy(max_attempts=1),
    )
    with pytest.raises(HsmUnavailable) as caught:
        gateway.list_role_definitions("/")
    assert caught.value.maybe_applied is False
    # the transport's words (host, socket) are logged, not carried to pages and probes
    assert caught.value.message == UNREACHABLE
    (logged,) = [record for record in caplog.records if record.msg == "hsm.unreachable"]
    assert type(logged.exc_info[1]).__name__ == "ServiceRequestError"


# --- retries --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("_case", "status", "error"),
    [("throttled", 429, HsmThrottled), ("unavailable", 503, HsmUnavailable)],
)
def test_transient_errors_are_retried_honouring_retry_after(_case, status, error, hsm):
    # given: the next two rotations are refused with Retry-After: 1
    hsm.keywarden.create_key("pay-busy", kty="EC-HSM", curve="P-256")
    hsm.process.set_faults(
        [{"match": "POST /keys/pay-busy/rotate", "status": status, "retry_after": 1, "count": 2}]
    )
    seq = hsm.process.latest_seq()
    # when
    started = time.monotonic()
    key = hsm.keywarden.rotate_key("pay-busy")
    elapsed = time.monotonic() - started
    # then
    assert calls_to(hsm, seq, "POST", "/keys/pay-busy/rotate") == [status, status, 200]
    assert elapsed >= 2.0
    assert len(list(hsm.keywarden.list_key_versions("pay-busy"))) == 2
    assert key.name == "pay-busy"


def test_throttling_that_outlasts_the_budget_raises_with_retry_after(hsm):
    hsm.keywarden.create_key("pay-jammed", kty="EC-HSM", curve="P-256")
    hsm.process.set_faults(
        [{"match": "GET /keys/pay-jammed/", "status": 429, "retry_after": 120, "count": 5}]
    )
    seq = hsm.process.latest_seq()
    with pytest.raises(HsmThrottled) as caught:
        hsm.keywarden.get_key("pay-jammed")
    assert caught.value.retry_after == 120
    assert calls_to(hsm, seq, "GET", "/keys/pay-jammed/") == [429]


def test_retries_are_bounded(hsm):
    hsm.keywarden.create_key("pay-down", kty="EC-HSM", curve="P-256")
    hsm.process.set_faults(
        [{"match": "GET /keys/pay-down/", "status": 503, "retry_after": 0, "count": 50}]
    )
    seq = hsm.process.latest_seq()
    with pytest.raises(HsmUnavailable):
        hsm.keywarden.get_key("pay-down")
    assert calls_to(hsm, seq, "GET", "/keys/pay-down/") == [503] * RetryPolicy().max_attempts


@pytest.mark.parametrize(
    ("_case", "status", "code", "error"),
    [
        ("bad request", 400, "BadParameter", HsmInvalid),
        ("forbidden", 403, "Forbidden", HsmForbidden),
        ("not found", 404, "KeyNotFound", HsmNotFound),
    ],
)
def test_permanent_errors_are_not_retried(_case, status, code, error, hsm):
    hsm.keywarden.create_key("pay-firm", kty="EC-HSM", curve="P-256")
    hsm.process.set_faults(
        [
            {
                "match": "POST /keys/pay-firm/rotate",
                "status": status,
                "code": code,
                "message": "injected",
                "count": 3,
            }
        ]
    )
    seq = hsm.process.latest_seq()
    with pytest.raises(error) as caught:
        hsm.keywarden.rotate_key("pay-firm")
    assert calls_to(hsm, seq, "POST", "/keys/pay-firm/rotate") == [status]
    assert (caught.value.code, caught.value.message) == (code, "injected")


def test_dropped_connection_is_not_repeated_for_a_rotation(hsm):
    # given: the HSM may have rotated before the connection broke
    hsm.keywarden.create_key("pay-dropped", kty="EC-HSM", curve="P-256")
    hsm.process.set_faults(
        [{"match": "POST /keys/pay-dropped/rotate", "action": "drop", "count": 1}]
    )
    seq = hsm.process.latest_seq()
    # when
    with pytest.raises(HsmUnavailable) as caught:
        hsm.keywarden.rotate_key("pay-dropped")
    # then
    assert caught.value.maybe_applied is True
    assert len(calls_to(hsm, seq, "POST", "/keys/pay-dropped/rotate")) == 1


def test_dropped_connection_is_repeated_for_a_read(hsm):
    hsm.keywarden.create_key("pay-read", kty="EC-HSM", curve="P-256")
    hsm.process.set_faults([{"match": "GET /keys/pay-read/", "action": "drop", "count": 1}])
    assert hsm.keywarden.get_key("pay-read").name == "pay-read"


def test_expiring_key_dates_survive_the_round_trip(hsm):
    not_before = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    key = hsm.keywarden.create_key("pay-later", kty="EC-HSM", curve="P-256", not_before=not_before)
    assert key.not_before == not_before
