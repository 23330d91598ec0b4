"""The preview is the execution: for every operation, the HSM calls the preview renders are
exactly the calls the live worker made, as the emulator's request log (method, path, JSON
body) recorded them through the Azure SDK."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.utils import timezone

from approvals.operations import SPECS, HsmCall
from approvals.operations.plan import REQUEST_TAG, render_plan
from audit.context import AuditContext
from hsm_emulator.client.testing import byok_transfer_blob, make_clients
from keys.models import ManagedKey
from keys.services.sync import sync_inventory
from tests.approvals.conftest import approve, submit, wait_for_state
from tests.support.hsm import OUT_OF_BAND_OID

pytestmark = pytest.mark.django_db(transaction=True)
ASSIGNMENTS = "providers/Microsoft.Authorization/roleAssignments"
PRINCIPAL = "0c0c0c0c-0000-4000-8000-000000000001"
EC_KEY = {"name": "pay-plan", "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign", "verify"]}
POLICY = {
    "lifetime_actions": [
        {"action": "Rotate", "time_after_create": "P90D"},
        {"action": "Notify", "time_before_expiry": "P30D"},
    ],
    "expiry_time": "P1Y",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def seconds(moment) -> int:
    return int(moment.timestamp())


def _key_request(method: str, kwargs: dict) -> dict:
    """The JSON the SDK sends for create_key / import_byok_key / update_key arguments."""
    body = {name: kwargs[name] for name in ("kty", "key_ops", "tags") if name in kwargs}
    body.update({"key_size": kwargs["size"]} if "size" in kwargs else {})
    body.update({"crv": kwargs["curve"]} if "curve" in kwargs else {})
    attributes = {
        wire: seconds(kwargs[name])
        for name, wire in (("not_before", "nbf"), ("expires_on", "exp"))
        if name in kwargs
    }
    attributes.update({"enabled": kwargs["enabled"]} if "enabled" in kwargs else {})
    attributes.update({"exportable": True} if kwargs.get("exportable") else {})
    if method == "import_byok_key":
        body = {
            "Hsm": True,
            "key": {
                "kid": kwargs["kek_id"],
                "kty": kwargs["kty"],
                "key_ops": kwargs["key_ops"],
                "key_hsm": b64url(kwargs["transfer_blob"]),
            },
            "tags": kwargs["tags"],
        }
    return {**body, **({"attributes": attributes} if attributes else {})}


def _policy_request(kwargs: dict) -> dict:
    actions = [
        {
            "action": {"type": action.action},
            "trigger": {
                wire: value
                for wire, value in (
                    ("timeAfterCreate", action.time_after_create),
                    ("timeBeforeExpiry", action.time_before_expiry),
                )
                if value
            },
        }
        for action in kwargs["lifetime_actions"]
    ]
    return {"lifetimeActions": actions, "attributes": {"expiryTime": kwargs["expires_in"]}}


def expected_request(call: HsmCall) -> tuple[str, str, dict | None]:
    """(HTTP method, path, JSON body) the Azure SDK sends for one planned gateway call."""
    name, kwargs = (call.args[0] if call.args else None), call.kwargs
    match call.method:
        case "create_key":
            return "POST", f"/keys/{name}/create", _key_request(call.method, kwargs)
        case "import_byok_key":
            return "PUT", f"/keys/{name}", _key_request(call.method, kwargs)
        case "update_key":
            version = kwargs.get("version") or ""
            return "PATCH", f"/keys/{name}/{version}", _key_request(call.method, kwargs)
        case "set_rotation_policy":
            return "PUT", f"/keys/{name}/rotationpolicy", _policy_request(kwargs)
        case "rotate_key" | "backup_key":
            return "POST", f"/keys/{name}/{call.method.removesuffix('_key')}", None
        case "delete_key":
            return "DELETE", f"/keys/{name}", None
        case "recover_key":
            return "POST", f"/deletedkeys/{name}/recover", None
        case "purge_key":
            return "DELETE", f"/deletedkeys/{name}", None
        case "create_role_assignment":
            path = f"{kwargs['scope']}/{ASSIGNMENTS}/{kwargs['name']}"
            properties = {
                "roleDefinitionId": kwargs["role_definition_id"],
                "principalId": kwargs["principal_id"],
            }
            return "PUT", path, {"properties": properties}
        case "delete_role_assignment":
            return "DELETE", f"{kwargs['scope']}/{ASSIGNMENTS}/{kwargs['name']}", None
        case "full_backup":
            storage = {"storageResourceUri": kwargs["container_url"], "useManagedIdentity": True}
            return "POST", "/backup", storage
    raise AssertionError(f"no wire mapping for {call.method}")


OPEN_OBJECTS = ("attributes", "key", "properties")  # the SDK may add members of its own
READS = ("get_key", "get_rotation_policy")  # planned reads, left out like the logged GETs


def contains(expected: dict, actual) -> bool:
    """Whether the body `actual` has every member of `expected`: equal, except the objects
    the SDK adds defaults to, which only need `expected`'s members."""
    return isinstance(actual, dict) and all(
        name in actual
        and (contains(value, actual[name]) if name in OPEN_OBJECTS else value == actual[name])
        for name, value in expected.items()
    )


def differences(calls: list[HsmCall], logged: list[dict]) -> list[str]:
    """What the logged changing requests (not reads) lack or add against the planned calls."""
    made = [r for r in logged if r["method"] != "GET"]
    calls = [call for call in calls if call.method not in READS]
    problems = [f"planned {len(calls)} calls, the HSM received {len(made)}"]
    problems = problems if len(made) != len(calls) else []
    for call, request in zip(calls, made, strict=False):
        method, path, body = expected_request(call)
        if (method, path) != (request["method"], request["path"]):
            problems.append(f"{call.render()}: expected {method} {path}, got {request}")
        elif body is not None and not contains(body, request["body"]):
            problems.append(f"{call.render()}: expected {body}, sent {request['body']}")
    return problems


@pytest.fixture
def run(requester, custodian, second_custodian, third_custodian, live_worker, hsm):
    """Submit, approve, wait for success: the request, and what the worker sent the HSM."""

    def run(operation, params):
        change = submit(requester, operation, params=params)
        seq = hsm.process.latest_seq()
        approve(
            change, *[custodian, second_custodian, third_custodian][: change.approvals_required]
        )
        change = wait_for_state(change, "succeeded", "failed")
        assert change.state == "succeeded", (change.error, live_worker.log_tail())
        keywarden = settings.HSM_PRINCIPAL_ID.lower()
        sent = [r for r in hsm.calls_since(seq) if r["principal"] == keywarden]
        return change, sent

    return run


def byok_params(run, hsm) -> dict:
    kek, _ = run(
        "key.create",
        {"name": "pay-kek", "kty": "RSA-HSM", "size": 3072, "key_ops": ["import"], "is_kek": True},
    )
    operator = make_clients(hsm.process.url, hsm.process.ca_path, OUT_OF_BAND_OID)
    jwk = operator.keys.get_key("pay-kek").key
    public = rsa.RSAPublicNumbers(
        int.from_bytes(jwk.e, "big"), int.from_bytes(jwk.n, "big")
    ).public_key()
    blob = byok_transfer_blob(kek.result["kid"], public, ec.generate_private_key(ec.SECP256R1()))
    return {
        "name": "pay-byok",
        "kty": "EC-HSM",
        "key_ops": ["sign"],
        "byok": json.loads(blob),
        "rotation_class": "active",
    }


def assignment_params(run, hsm) -> dict:
    run("key.create", EC_KEY)
    assigned, _ = run(
        "role.assign",
        {
            "role": "Managed HSM Crypto User",
            "principal_id": PRINCIPAL,
            "principal_type": "ServicePrincipal",
            "scope": "/keys/pay-plan",
        },
    )
    return {"assignment": assigned.result["assignment"]}


def adopt_params(run, hsm) -> dict:
    """A key made out of band, found by the sync."""
    hsm.operator.create_key("pay-plan", kty="EC-HSM", curve="P-256", tags={"app": "orders"})
    sync_inventory(ctx=AuditContext.system("test"))
    return {"name": "pay-plan", "rotation_class": "active"}


def old_version_params(run, hsm) -> dict:
    run(*SETUP["create"])
    rotated, _ = run("key.rotate", {"name": "pay-plan"})
    return {"name": "pay-plan", "version": rotated.result["previous_version"]}


def later(days: int) -> str:
    return (timezone.now() + timezone.timedelta(days=days)).replace(microsecond=0).isoformat()


SCHEDULE = {"name": "pay-plan", "cadence": "P30D", "mode": "standing"}
CREATE_ALL = {
    **EC_KEY,
    "not_before": later(-1),
    "expires_on": later(400),
    "tags": {"app": "orders"},
    "rotation_policy": POLICY,
    "rotation_class": "active",
}
CASES = [
    # (_case, setup: operations run first, operation, params or a function making them)
    ("create with every option", [], "key.create", CREATE_ALL),
    ("create RSA", [], "key.create", {**EC_KEY, "kty": "RSA-HSM", "size": 3072, "curve": None}),
    ("import", [], "key.import", byok_params),
    ("rotate", ["create"], "key.rotate", {"name": "pay-plan"}),
    ("rotation policy", ["create"], "key.set_rotation_policy", {"name": "pay-plan", **POLICY}),
    (
        "update",
        ["create"],
        "key.update",
        {"name": "pay-plan", "enabled": False, "expires_on": later(200), "key_ops": ["verify"]},
    ),
    ("delete", ["create"], "key.delete", {"name": "pay-plan"}),
    ("recover", ["create", "delete"], "key.recover", {"name": "pay-plan"}),
    ("purge", ["create", "delete"], "key.purge", {"name": "pay-plan"}),
    ("backup", ["create"], "key.backup", {"name": "pay-plan"}),
    (
        "assign",
        ["create"],
        "role.assign",
        {
            "role": "Managed HSM Crypto Auditor",
            "principal_id": PRINCIPAL,
            "principal_type": "User",
            "scope": "/keys/pay-plan",
        },
    ),
    ("revoke", [], "role.revoke", assignment_params),
    # A schedule is recorded by Keywarden alone: no HSM call at all.
    ("schedule", ["create"], "key.set_rotation_schedule", SCHEDULE),
    (
        "remove schedule",
        ["create", "schedule"],
        "key.remove_rotation_schedule",
        {"name": "pay-plan"},
    ),
    ("disable an old version", [], "key.disable_version", old_version_params),
    ("adopt", [], "key.adopt", adopt_params),
]
SETUP = {
    "create": ("key.create", EC_KEY),
    "delete": ("key.delete", {"name": "pay-plan"}),
    "schedule": ("key.set_rotation_schedule", SCHEDULE),
}


# The custody operations are tests/custody's: register changes make no HSM call, the
# download ceremony needs an HSM that is not activated yet (tests/custody/test_ceremony.py),
# and the full backup runs as the HSM's administrator (tests/custody/test_full_backup.py
# compares its preview with the requests it sent, with `differences` below).
CUSTODY_OPERATIONS = {name for name in SPECS if name.startswith("custody.")} | {
    "hsm.security_domain.download",
    "hsm.full_backup",
}


def test_the_cases_cover_every_operation():
    assert {case[2] for case in CASES} == set(SPECS) - CUSTODY_OPERATIONS


@pytest.mark.parametrize(
    ("_case", "setup", "operation", "params"), CASES, ids=[case[0] for case in CASES]
)
def test_preview_lists_exactly_the_calls_the_worker_makes(
    _case, setup, operation, params, run, hsm, requester, api_client_for
):
    # given
    for step in setup:
        run(*SETUP[step])
    params = (
        params(run, hsm) if callable(params) else {k: v for k, v in params.items() if v is not None}
    )
    # when
    change, sent = run(operation, params)
    # then
    plan = SPECS[operation].plan(change.params, request_id=change.pk)
    shown = api_client_for(requester).get(f"/api/v1/requests/{change.pk}/").json()["preview"]
    assert shown == (render_plan(plan) if plan else SPECS[operation].preview(change.params))
    assert differences(plan, sent) == []


def test_the_rotation_class_is_a_tag_in_the_hsm_and_judges_the_key(run, hsm):
    # when
    change, _ = run("key.create", {**EC_KEY, "rotation_class": "active"})
    # then
    operator = make_clients(hsm.process.url, hsm.process.ca_path, OUT_OF_BAND_OID)
    assert operator.keys.get_key("pay-plan").properties.tags == {
        "keywarden-class": "active",
        REQUEST_TAG: str(change.pk),
    }
    row = ManagedKey.objects.get(name="pay-plan")
    assert (row.rotation_class, row.compliance_state, row.compliance_mechanism) == (
        "active",
        "no_rotation",
        "none",
    )
    assert row.compliance_due_on == row.current_version_created_on + timedelta(days=90)


def changed(call: HsmCall, **kwargs) -> HsmCall:
    return HsmCall(call.method, *call.args, **{**call.kwargs, **kwargs})


def test_a_call_made_differently_from_the_plan_is_caught(run):
    # given: what the worker sent for a key with a rotation policy
    change, sent = run(
        "key.create", {**EC_KEY, "tags": {"app": "orders"}, "rotation_policy": POLICY}
    )
    plan = SPECS["key.create"].plan(change.params, request_id=change.pk)
    create, policy = plan
    # when: plans that differ in one argument, a method, the request tag, or a call
    other_curve = changed(create, curve="P-384")
    untagged = changed(create, tags={"app": "orders"})
    other_expiry = changed(policy, expires_in="P2Y")
    rotate = HsmCall("rotate_key", "pay-plan")
    # then
    assert differences(plan, sent) == []
    assert differences([other_curve, policy], sent) != []
    assert differences([untagged, policy], sent) != []
    assert differences([create, other_expiry], sent) != []
    assert differences([create, rotate], sent) != []
    assert differences([create], sent) != []
