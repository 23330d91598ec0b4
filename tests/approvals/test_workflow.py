"""Every operation of PRODUCT.md §5: submit → approvals → a real worker executes it against the
emulator through the Azure SDK, and the HSM (read independently) shows the effect."""

import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from django.utils import timezone

from approvals.models import KeyBackup
from audit.chain_selectors import verify_chain
from audit.models import AuditEvent
from hsm_emulator.client.testing import byok_transfer_blob, make_clients
from keys.gateway import HsmNotFound
from keys.models import ManagedKey
from tests.approvals.conftest import approve, submit, wait_for_state
from tests.support.hsm import OUT_OF_BAND_OID
from tests.support.worker import mail_text

pytestmark = pytest.mark.django_db(transaction=True)
EC_KEY = {"name": "pay-flow", "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign", "verify"]}


@pytest.fixture
def run(requester, custodian, second_custodian, third_custodian, live_worker, hsm):
    """Submit as alice, approve as many custodians as the policy needs, wait for the end."""

    def run(operation, params, *, expect="succeeded"):
        change = submit(requester, operation, params=params)
        approve(
            change, *[custodian, second_custodian, third_custodian][: change.approvals_required]
        )
        change = wait_for_state(change, "succeeded", "failed")
        assert change.state == expect, (change.error, live_worker.log_tail())
        return change

    return run


def test_create_key_with_policy_and_tags(run, hsm, live_worker):
    params = {
        "name": "pay-orders",
        "kty": "RSA-HSM",
        "size": 3072,
        "key_ops": ["sign", "verify"],
        "tags": {"app": "orders"},
        "rotation_policy": {
            "lifetime_actions": [{"action": "Rotate", "time_after_create": "P90D"}],
            "expiry_time": "P1Y",
        },
    }
    change = run("key.create", params)
    key = hsm.operator.get_key("pay-orders")
    assert (key.kty, key.key_size, key.key_ops) == ("RSA-HSM", 3072, ("sign", "verify"))
    assert key.tags == {"app": "orders", "keywarden-request": str(change.pk)}
    assert hsm.operator.get_rotation_policy("pay-orders").as_dict() == params["rotation_policy"]
    assert change.result["version"] == key.version
    row = ManagedKey.objects.get(name="pay-orders")
    assert (row.is_managed, row.has_drift, row.current_version) == (True, False, key.version)
    assert change.executions.get().hsm_request_ids != []
    assert verify_chain().valid is True


def test_rotate_makes_exactly_one_new_version(run, hsm):
    first = run("key.create", EC_KEY)
    change = run("key.rotate", {"name": "pay-flow"})
    versions = {v.version for v in hsm.operator.list_key_versions("pay-flow")}
    assert versions == {first.result["version"], change.result["version"]}
    assert ManagedKey.objects.get(name="pay-flow").version_count == 2


def test_set_rotation_policy(run, hsm):
    run("key.create", EC_KEY)
    policy = {
        "lifetime_actions": [{"action": "Rotate", "time_before_expiry": "P30D"}],
        "expiry_time": "P180D",
    }
    run("key.set_rotation_policy", {"name": "pay-flow", **policy})
    assert hsm.operator.get_rotation_policy("pay-flow").as_dict() == policy
    assert ManagedKey.objects.get(name="pay-flow").rotation_policy == policy


def test_update_key_properties(run, hsm):
    run("key.create", EC_KEY)
    expires = (timezone.now() + timezone.timedelta(days=400)).replace(microsecond=0)
    run(
        "key.update",
        {
            "name": "pay-flow",
            "enabled": False,
            "expires_on": expires.isoformat(),
            "key_ops": ["verify"],
        },
    )
    key = hsm.operator.get_key("pay-flow")
    assert (key.enabled, key.expires_on, key.key_ops) == (False, expires, ("verify",))
    assert ManagedKey.objects.get(name="pay-flow").has_drift is False


def test_backup_keeps_a_blob_that_restores_the_key(run, hsm, custodian, requester, api_client_for):
    run("key.create", EC_KEY)
    change = run("key.backup", {"name": "pay-flow"})
    backup = KeyBackup.objects.get(request=change)
    assert hashlib.sha256(bytes(backup.blob)).hexdigest() == change.result["sha256"]
    download = api_client_for(custodian).get(f"/api/v1/requests/{change.pk}/backup/")
    assert download.content == bytes(backup.blob)
    downloaded = AuditEvent.objects.get(action="key.backup_downloaded")
    assert (downloaded.actor_label, downloaded.after["sha256"]) == ("carol", backup.sha256)
    refused = api_client_for(requester).get(f"/api/v1/requests/{change.pk}/backup/")
    assert refused.status_code == 403
    assert AuditEvent.objects.filter(action="key.backup_downloaded").count() == 1
    hsm.operator.delete_key("pay-flow")
    hsm.operator.purge_key("pay-flow")
    assert hsm.operator.restore_key(bytes(backup.blob)).name == "pay-flow"


def test_delete_recover_delete_purge(run, hsm):
    run("key.create", EC_KEY)
    run("key.delete", {"name": "pay-flow"})
    assert [d.name for d in hsm.operator.list_deleted_keys()] == ["pay-flow"]
    assert ManagedKey.objects.get(name="pay-flow").state == "deleted"
    run("key.recover", {"name": "pay-flow"})
    assert hsm.operator.get_key("pay-flow").name == "pay-flow"
    run("key.delete", {"name": "pay-flow"})
    purge = run("key.purge", {"name": "pay-flow"})
    assert purge.approvals.count() == 3
    with pytest.raises(HsmNotFound):
        hsm.operator.get_deleted_key("pay-flow")
    assert ManagedKey.objects.get(name="pay-flow").state == "purged"


def test_assign_and_revoke_a_role(run, hsm):
    run("key.create", EC_KEY)
    principal = "0c0c0c0c-0000-4000-8000-000000000001"
    assigned = run(
        "role.assign",
        {
            "role": "Managed HSM Crypto User",
            "principal_id": principal,
            "principal_type": "ServicePrincipal",
            "scope": "/keys/pay-flow",
        },
    )
    listed = {
        (a.scope, a.principal_id, a.role_definition_name)
        for a in hsm.admin.list_role_assignments("/")
    }
    assert ("/keys/pay-flow", principal, "21dbd100-6940-42c2-9190-5d6cb909625b") in listed
    run("role.revoke", {"assignment": assigned.result["assignment"]})
    assert principal not in {a.principal_id for a in hsm.admin.list_role_assignments("/")}


def test_byok_import_brings_in_a_key_made_elsewhere(run, hsm, settings):
    # given: a key-exchange key made through Keywarden, and an EC key "generated on-premises"
    kek = run(
        "key.create",
        {"name": "pay-kek", "kty": "RSA-HSM", "size": 3072, "key_ops": ["import"], "is_kek": True},
    )
    operator = make_clients(hsm.process.url, hsm.process.ca_path, OUT_OF_BAND_OID)
    kek_public = operator.keys.get_key("pay-kek")
    from cryptography.hazmat.primitives.asymmetric import rsa

    public = rsa.RSAPublicNumbers(
        int.from_bytes(kek_public.key.e, "big"), int.from_bytes(kek_public.key.n, "big")
    ).public_key()
    on_premises = ec.generate_private_key(ec.SECP256R1())
    blob = byok_transfer_blob(kek.result["kid"], public, on_premises)
    # when
    run(
        "key.import",
        {
            "name": "pay-imported",
            "kty": "EC-HSM",
            "key_ops": ["sign", "verify"],
            "byok": json.loads(blob),
        },
    )
    # then: the HSM signs with the very key generated on-premises
    digest = hashlib.sha256(b"settlement batch 42").digest()
    signature = operator.crypto(operator.keys.get_key("pay-imported")).sign("ES256", digest)
    r, s = (int.from_bytes(signature.signature[i : i + 32], "big") for i in (0, 32))
    on_premises.public_key().verify(
        encode_dss_signature(r, s), b"settlement batch 42", ec.ECDSA(hashes.SHA256())
    )


def test_requester_is_emailed_when_decided_and_when_done(run, live_worker, requester):
    change = run("key.create", EC_KEY)
    for subject in ("Approved", "Succeeded"):
        live_worker.wait_for_mail(
            f"[Keywarden] {subject}: Create key pay-flow (payments)",
            to=requester.email,
            about=f"/requests/{change.pk}/",
        )


def test_custodians_are_emailed_when_a_request_awaits_them(requester, custodian, live_worker, hsm):
    change = submit(requester, params=EC_KEY)
    mail = live_worker.wait_for_mail(
        "[Keywarden] Approval needed: Create key pay-flow (payments)",
        to=custodian.email,
        about=str(change.pk),
    )
    assert change.justification in mail_text(mail)
