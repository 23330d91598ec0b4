"""Bad submissions are refused with field errors; nothing is written and the HSM is not called."""

import base64
import json

import pytest
from django.conf import settings

from approvals.models import ChangeRequest
from approvals.operations.roles import SECOND_ROLE_REFUSED
from audit.models import AuditEvent
from keys.models import RoleAssignmentMirror
from tests.approvals.conftest import APP_PRINCIPAL

EC = {"name": "pay-new", "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign", "verify"]}
RSA = {"name": "pay-new", "kty": "RSA-HSM", "size": 2048, "key_ops": ["sign"]}
POLICY = {
    "authority": "https://attest.example.com",
    "allOf": [{"claim": "x-ms-attestation-type", "equals": "sevsnpvm"}],
}
ROTATE = {
    "lifetime_actions": [{"action": "Rotate", "time_after_create": "P90D"}],
    "expiry_time": "P1Y",
}


def with_(base, **changes):
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def byok(kid_host=None, kek="pay-kek", alg="dir", ciphertext_bytes=300):
    host = kid_host or settings.HSM_URL
    return {
        "schema_version": "1.0.0",
        "header": {
            "kid": f"{host}/keys/{kek}/0123456789abcdef0123456789abcdef",
            "alg": alg,
            "enc": "CKM_RSA_AES_KEY_WRAP",
        },
        "ciphertext": base64.urlsafe_b64encode(b"\x01" * ciphertext_bytes).decode().rstrip("="),
        "generator": "test",
    }


def import_params(**changes):
    return with_(
        {"name": "pay-byok", "kty": "RSA-HSM", "key_ops": ["sign"], "byok": byok()}, **changes
    )


def assign_params(**changes):
    return with_(
        {
            "role": "Managed HSM Crypto User",
            "principal_type": "ServicePrincipal",
            "principal_id": "0b0b0b0b-0000-4000-8000-000000000001",
            "scope": "/keys/pay-rsa",
        },
        **changes,
    )


MALFORMED = [
    # key.create
    ("create: no name", "key.create", with_(EC, name=None), "params.name"),
    ("create: bad characters", "key.create", with_(EC, name="pay_bad!"), "params.name"),
    ("create: name too long", "key.create", with_(EC, name="pay-" + "x" * 124), "params.name"),
    ("create: name with a newline", "key.create", with_(EC, name="pay-orders\n"), "params.name"),
    ("create: name as a number", "key.create", with_(EC, name=123), "params.name"),
    ("create: size as text", "key.create", with_(RSA, size="2048"), "params.size"),
    ("create: exportable as text", "key.create", with_(EC, exportable="true"), "params.exportable"),
    ("create: other team's prefix", "key.create", with_(EC, name="idn-mine"), "params.name"),
    ("create: no key type", "key.create", with_(EC, kty=None), "params.kty"),
    ("create: software key type", "key.create", with_(RSA, kty="RSA"), "params.kty"),
    ("create: RSA 1024", "key.create", with_(RSA, size=1024), "params.size"),
    ("create: RSA with a curve", "key.create", with_(RSA, curve="P-256"), "params.curve"),
    ("create: EC without curve", "key.create", with_(EC, curve=None), "params.curve"),
    ("create: EC P-192", "key.create", with_(EC, curve="P-192"), "params.curve"),
    ("create: EC with a size", "key.create", with_(EC, size=256), "params.size"),
    (
        "create: AES 512",
        "key.create",
        {"name": "pay-new", "kty": "oct-HSM", "size": 512, "key_ops": ["encrypt"]},
        "params.size",
    ),
    ("create: EC cannot wrap", "key.create", with_(EC, key_ops=["wrapKey"]), "params.key_ops"),
    ("create: repeated op", "key.create", with_(EC, key_ops=["sign", "sign"]), "params.key_ops"),
    ("create: ops not a list", "key.create", with_(EC, key_ops="sign"), "params.key_ops"),
    ("create: no ops", "key.create", with_(EC, key_ops=[]), "params.key_ops"),
    (
        "create: KEK with more ops",
        "key.create",
        with_(RSA, key_ops=["import", "sign"]),
        "params.key_ops",
    ),
    (
        "create: exportable, no policy",
        "key.create",
        with_(RSA, exportable=True),
        "params.release_policy",
    ),
    (
        "create: policy, not exportable",
        "key.create",
        with_(RSA, release_policy=POLICY),
        "params.release_policy",
    ),
    (
        "create: policy without claims",
        "key.create",
        with_(RSA, exportable=True, release_policy={"version": "1.0.0"}),
        "params.release_policy",
    ),
    (
        "create: policy over http",
        "key.create",
        with_(
            RSA,
            exportable=True,
            release_policy={"anyOf": [{**POLICY, "authority": "http://a.example"}]},
        ),
        "params.release_policy.anyOf.0.authority",
    ),
    (
        "create: expired already",
        "key.create",
        with_(EC, expires_on="2020-01-01T00:00:00Z"),
        "params.expires_on",
    ),
    (
        "create: expires before valid",
        "key.create",
        with_(EC, not_before="2031-01-01T00:00:00Z", expires_on="2030-01-01T00:00:00Z"),
        "params.expires_on",
    ),
    (
        "create: date without zone",
        "key.create",
        with_(EC, not_before="2030-01-01T00:00:00"),
        "params.not_before",
    ),
    ("create: tags not text", "key.create", with_(EC, tags={"n": 1}), "params.tags"),
    (
        "create: 16 tags",
        "key.create",
        with_(EC, tags={f"t{i}": "v" for i in range(16)}),
        "params.tags",
    ),
    (
        "create: reserved tag",
        "key.create",
        with_(EC, tags={"keywarden-request": "x"}),
        "params.tags",
    ),
    (
        "create: policy expiry 7 days",
        "key.create",
        with_(EC, rotation_policy={**ROTATE, "expiry_time": "P7D"}),
        "params.rotation_policy.expiry_time",
    ),
    (
        "create: notify after create",
        "key.create",
        with_(
            EC,
            rotation_policy={
                "lifetime_actions": [{"action": "Notify", "time_after_create": "P30D"}],
                "expiry_time": "P1Y",
            },
        ),
        "params.rotation_policy.lifetime_actions.0.time_after_create",
    ),
    (
        "create: two triggers",
        "key.create",
        with_(
            EC,
            rotation_policy={
                "lifetime_actions": [
                    {"action": "Rotate", "time_after_create": "P30D", "time_before_expiry": "P30D"}
                ],
                "expiry_time": "P1Y",
            },
        ),
        "params.rotation_policy.lifetime_actions.0",
    ),
    (
        "create: duration in words",
        "key.create",
        with_(
            EC,
            rotation_policy={
                "lifetime_actions": [{"action": "Rotate", "time_after_create": "90 days"}]
            },
        ),
        "params.rotation_policy.lifetime_actions.0.time_after_create",
    ),
    ("create: name in use", "key.create", with_(EC, name="pay-live"), "params.name"),
    ("create: name of deleted key", "key.create", with_(EC, name="pay-deleted"), "params.name"),
    ("create: unknown field", "key.create", with_(EC, colour="blue"), "params.colour"),
    # key.import
    ("import: no file", "key.import", import_params(byok=None), "params.byok"),
    ("import: file not JSON", "key.import", import_params(byok="not json"), "params.byok"),
    (
        "import: file with NaN",
        "key.import",
        import_params(byok='{"schema_version": NaN}'),
        "params.byok",
    ),
    (
        "import: file nested too deep",
        "key.import",
        import_params(byok="[" * 20_000 + "]" * 20_000),
        "params.byok",
    ),
    (
        "import: wrong algorithm",
        "key.import",
        import_params(byok=byok(alg="RSA-OAEP")),
        "params.byok.header",
    ),
    (
        "import: wrapped for another HSM",
        "key.import",
        import_params(byok=byok(kid_host="https://other.managedhsm.azure.net")),
        "params.byok.header.kid",
    ),
    (
        "import: not a key-exchange key",
        "key.import",
        import_params(byok=byok(kek="pay-rsa")),
        "params.byok.header.kid",
    ),
    (
        "import: another team's KEK",
        "key.import",
        import_params(byok=byok(kek="idn-key")),
        "params.byok.header.kid",
    ),
    (
        "import: truncated ciphertext",
        "key.import",
        import_params(byok=byok(ciphertext_bytes=20)),
        "params.byok.ciphertext",
    ),
    # key.rotate / set_rotation_policy / update / recover / purge
    ("rotate: no such key", "key.rotate", {"name": "pay-ghost"}, "params.name"),
    ("rotate: deleted key", "key.rotate", {"name": "pay-deleted"}, "params.name"),
    ("rotate: other team's key", "key.rotate", {"name": "idn-key"}, "params.name"),
    (
        "policy: expiry too short",
        "key.set_rotation_policy",
        {"name": "pay-live", **ROTATE, "expiry_time": "P27D"},
        "params.expiry_time",
    ),
    (
        "policy: rotate after expiry",
        "key.set_rotation_policy",
        {
            "name": "pay-live",
            "lifetime_actions": [{"action": "Rotate", "time_after_create": "P2Y"}],
            "expiry_time": "P1Y",
        },
        "params.lifetime_actions.0.time_after_create",
    ),
    (
        "policy: before expiry, no expiry",
        "key.set_rotation_policy",
        {
            "name": "pay-live",
            "lifetime_actions": [{"action": "Rotate", "time_before_expiry": "P30D"}],
        },
        "params.lifetime_actions.0.time_before_expiry",
    ),
    (
        "policy: two rotate actions",
        "key.set_rotation_policy",
        {
            "name": "pay-live",
            "lifetime_actions": [
                {"action": "Rotate", "time_after_create": "P30D"},
                {"action": "rotate", "time_after_create": "P60D"},
            ],
        },
        "params.lifetime_actions.1",
    ),
    ("update: nothing to change", "key.update", {"name": "pay-live"}, "params.name"),
    (
        "update: EC cannot encrypt",
        "key.update",
        {"name": "pay-live", "key_ops": ["encrypt"]},
        "params.key_ops",
    ),
    (
        "update: enabled as text",
        "key.update",
        {"name": "pay-live", "enabled": "yes"},
        "params.enabled",
    ),
    ("recover: live key", "key.recover", {"name": "pay-live"}, "params.name"),
    ("purge: live key", "key.purge", {"name": "pay-live"}, "params.name"),
    # role.assign / role.revoke
    (
        "assign: crypto officer",
        "role.assign",
        assign_params(role="Managed HSM Crypto Officer"),
        "params.role",
    ),
    (
        "assign: administrator",
        "role.assign",
        assign_params(role="Managed HSM Administrator"),
        "params.role",
    ),
    (
        "assign: principal not a GUID",
        "role.assign",
        assign_params(principal_id="app-1"),
        "params.principal_id",
    ),
    (
        "assign: principal with a newline",
        "role.assign",
        assign_params(principal_id="0b0b0b0b-0000-4000-8000-000000000001\n"),
        "params.principal_id",
    ),
    (
        "assign: unknown principal type",
        "role.assign",
        assign_params(principal_type="Robot"),
        "params.principal_type",
    ),
    (
        "create: unknown rotation class",
        "key.create",
        with_(EC, rotation_class="nonesuch"),
        "params.rotation_class",
    ),
    (
        "create: rotation class not a slug",
        "key.create",
        with_(EC, rotation_class="a b"),
        "params.rotation_class",
    ),
    (
        "create: class tag set by hand",
        "key.create",
        with_(EC, tags={"keywarden-class": "active"}),
        "params.tags",
    ),
    (
        "import: unknown rotation class",
        "key.import",
        import_params(rotation_class="nonesuch"),
        "params.rotation_class",
    ),
    ("assign: whole HSM", "role.assign", assign_params(scope="/"), "params.scope"),
    (
        "assign: other team's key",
        "role.assign",
        assign_params(scope="/keys/idn-key"),
        "params.scope",
    ),
    (
        "assign: second role on a key",
        "role.assign",
        assign_params(
            scope="/keys/pay-live", principal_id=APP_PRINCIPAL, role="Managed HSM Crypto Auditor"
        ),
        "params.principal_id",
    ),
    (
        "assign: Keywarden itself",
        "role.assign",
        assign_params(principal_id="00000000-0000-0000-0000-00000000b001"),
        "params.principal_id",
    ),
    (
        "revoke: unknown assignment",
        "role.revoke",
        {"assignment": "9b9b9b9b-0000-4000-8000-0000000000ff"},
        "params.assignment",
    ),
    (
        "revoke: other team's assignment",
        "role.revoke",
        {"assignment": "9b9b9b9b-0000-4000-8000-000000000002"},
        "params.assignment",
    ),
]


@pytest.mark.parametrize(
    ("_case", "operation", "params", "field"), MALFORMED, ids=[case[0] for case in MALFORMED]
)
def test_malformed_submission_is_refused_and_leaves_no_trace(
    _case, operation, params, field, inventory, requester, api_client_for, hsm_session
):
    # given
    events_before, hsm_seq = AuditEvent.objects.count(), hsm_session.process.latest_seq()
    # when
    response = api_client_for(requester).post(
        "/api/v1/requests/",
        {"operation": operation, "team": "payments", "justification": "test", "params": params},
        format="json",
    )
    # then
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"], response.json()
    assert ChangeRequest.objects.count() == 0
    assert AuditEvent.objects.count() == events_before
    assert hsm_session.calls_since(hsm_seq) == []


@pytest.mark.parametrize(
    ("_case", "body", "field"),
    [
        (
            "unknown operation",
            {"operation": "key.export", "team": "payments", "justification": "x", "params": {}},
            "operation",
        ),
        (
            "unknown team",
            {
                "operation": "key.rotate",
                "team": "nobody",
                "justification": "x",
                "params": {"name": "pay-live"},
            },
            "team",
        ),
        (
            "blank justification",
            {
                "operation": "key.rotate",
                "team": "payments",
                "justification": " ",
                "params": {"name": "pay-live"},
            },
            "justification",
        ),
        (
            "params not an object",
            {
                "operation": "key.rotate",
                "team": "payments",
                "justification": "x",
                "params": ["pay-live"],
            },
            "params",
        ),
        (
            "no params",
            {"operation": "key.rotate", "team": "payments", "justification": "x"},
            "params",
        ),
    ],
)
def test_malformed_envelope_is_refused(_case, body, field, inventory, requester, api_client_for):
    events_before = AuditEvent.objects.count()
    response = api_client_for(requester).post("/api/v1/requests/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert ChangeRequest.objects.count() == 0
    assert AuditEvent.objects.count() == events_before


def test_all_field_errors_come_back_at_once(inventory, requester, api_client_for):
    params = {"name": "idn-x", "kty": "RSA-HSM", "size": 1000, "key_ops": ["fly"]}
    response = api_client_for(requester).post(
        "/api/v1/requests/",
        {"operation": "key.create", "team": "payments", "justification": "", "params": params},
        format="json",
    )
    assert set(response.json()["errors"]) == {
        "justification",
        "params.name",
        "params.size",
        "params.key_ops",
    }


def test_an_unknown_rotation_class_names_the_known_ones(inventory, requester, api_client_for):
    # when
    response = api_client_for(requester).post(
        "/api/v1/requests/",
        {
            "operation": "key.create",
            "team": "payments",
            "justification": "test",
            "params": with_(EC, rotation_class="nonesuch"),
        },
        format="json",
    )
    # then
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "params.rotation_class": ["No rotation class 'nonesuch'. Known: active, standard."]
    }
    assert ChangeRequest.objects.count() == 0


def test_byok_file_may_be_sent_as_text(inventory, requester, api_client_for):
    params = import_params(byok=json.dumps(byok()))
    response = api_client_for(requester).post(
        "/api/v1/requests/",
        {"operation": "key.import", "team": "payments", "justification": "x", "params": params},
        format="json",
    )
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(
    ("_case", "held_scope"), [("on this key", "/keys/pay-live"), ("HSM-wide", "/")]
)
def test_separation_of_duties_refusal_does_not_tell_which_role_a_principal_holds(
    _case, held_scope, inventory, requester, api_client_for
):
    # given: APP_PRINCIPAL holds Crypto Auditor where pay-live is covered
    RoleAssignmentMirror.objects.filter(
        principal_id=APP_PRINCIPAL, key=inventory["pay-live"]
    ).update(
        scope=held_scope, role_name="Managed HSM Crypto Auditor", role_definition_id="auditor-def"
    )
    # when
    response = api_client_for(requester).post(
        "/api/v1/requests/",
        {
            "operation": "role.assign",
            "team": "payments",
            "justification": "test",
            "params": assign_params(scope="/keys/pay-live", principal_id=APP_PRINCIPAL),
        },
        format="json",
    )
    # then: the rule, and nothing about the role held or where
    assert response.status_code == 400
    assert response.json()["errors"] == {"params.principal_id": [SECOND_ROLE_REFUSED]}
    text = response.content.decode()
    assert [word for word in ("Auditor", "auditor-def", '"/"') if word in text] == []
    assert ChangeRequest.objects.count() == 0


def test_revoking_another_teams_assignment_reads_as_absent(inventory, requester, api_client_for):
    # given: ...002 exists, on identity's key; ...0ff does not exist at all
    client = api_client_for(requester)

    def refusal(assignment: str) -> list[str]:
        body = {"assignment": assignment}
        response = client.post(
            "/api/v1/requests/",
            {"operation": "role.revoke", "team": "payments", "justification": "x", "params": body},
            format="json",
        )
        return response.json()["errors"]["params.assignment"]

    # when
    others, absent = (
        refusal("9b9b9b9b-0000-4000-8000-000000000002"),
        refusal("9b9b9b9b-0000-4000-8000-0000000000ff"),
    )
    # then: the same words, only the id differs
    assert others == [
        "No role assignment 9b9b9b9b-0000-4000-8000-000000000002 on a key of team payments."
    ]
    assert absent == [
        "No role assignment 9b9b9b9b-0000-4000-8000-0000000000ff on a key of team payments."
    ]
