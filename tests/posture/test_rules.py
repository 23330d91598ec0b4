"""Every posture rule fires on an HSM state crafted out of band (the official SDK against the
emulator, as an HSM administrator or operator would) and clears when that state is fixed."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from azure.keyvault.administration import KeyVaultPermission
from azure.keyvault.keys import KeyReleasePolicy
from django.conf import settings
from django.utils import timezone

from audit.context import AuditContext
from custody.services import record_full_backup
from keys.gateway import KeyInfo
from posture.models import Finding, Severity
from posture.rules import RULES_BY_ID
from posture.snapshot import HsmSnapshot
from tests.posture.conftest import ATTESTATION, STRONG_POLICY
from tests.support.hsm import CRYPTO_OFFICER, CRYPTO_USER, HSM_ADMIN_OID, OUT_OF_BAND_OID

pytestmark = pytest.mark.django_db
ROLE_ID_PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
SERVICE_RELEASE_USER = "21dbd100-6940-42c2-9190-5d6cb909625c"
USER_OID = "00000000-0000-0000-0000-0000000000e1"
GROUP_OID = "00000000-0000-0000-0000-0000000000e2"
ADMINISTRATOR = "a290e904-7015-4bba-90c8-60543313cdb4"
OUT_OF_BAND_OFFICER_ASSIGNMENT = "00000000-0000-0000-0000-0000000000f1"


def assign(sdk, principal: str, role: str, scope: str) -> str:
    name = str(uuid.uuid4())
    sdk.access_control.create_role_assignment(scope, ROLE_ID_PREFIX + role, principal, name=name)
    return name


def policy(document: dict) -> KeyReleasePolicy:
    return KeyReleasePolicy(json.dumps(document).encode())


def test_a_principal_with_two_roles_is_found_until_one_is_revoked(judge, admin_sdk):
    found = judge()
    admin_sdk.access_control.delete_role_assignment("/keys", OUT_OF_BAND_OFFICER_ASSIGNMENT)
    cleared = judge()

    assert found["principal.multiple_roles"] == {OUT_OF_BAND_OID}
    finding = Finding.objects.get(rule="principal.multiple_roles")
    assert finding.resolved_at is not None
    assert sorted(a["role"] for a in finding.evidence["assignments"]) == [
        "Managed HSM Crypto Officer",
        "Managed HSM Crypto User",
    ]
    assert "principal.multiple_roles" not in cleared


def test_administrator_with_crypto_officer_is_found_until_revoked(judge, admin_sdk):
    name = assign(admin_sdk, HSM_ADMIN_OID, CRYPTO_OFFICER, "/")

    found = judge()
    admin_sdk.access_control.delete_role_assignment("/", name)
    cleared = judge()

    assert found["principal.administrator_with_key_roles"] == {HSM_ADMIN_OID}
    finding = Finding.objects.get(rule="principal.administrator_with_key_roles")
    assert (finding.severity, finding.principal_id) == (Severity.HIGH, HSM_ADMIN_OID)
    assert "Managed HSM Crypto Officer" in finding.summary
    assert "principal.administrator_with_key_roles" not in cleared


def test_administrator_held_by_a_user_is_found_until_a_group_holds_it(judge, admin_sdk, settings):
    settings.POSTURE_PRINCIPAL_TYPES = {USER_OID: "User", GROUP_OID: "Group"}
    user_assignment = assign(admin_sdk, USER_OID, ADMINISTRATOR, "/")

    found = judge()
    assign(admin_sdk, GROUP_OID, ADMINISTRATOR, "/")
    admin_sdk.access_control.delete_role_assignment("/", user_assignment)
    cleared = judge()

    # The initial administrator's type is unknown without Graph: not judged (README).
    assert found["assignment.administrator_user"] == {user_assignment}
    assert "assignment.administrator_user" not in cleared


def test_a_key_role_at_root_is_found_until_assigned_on_the_key(judge, admin_sdk):
    root = assign(admin_sdk, USER_OID, SERVICE_RELEASE_USER, "/")

    found = judge()
    admin_sdk.access_control.delete_role_assignment("/", root)
    assign(admin_sdk, USER_OID, SERVICE_RELEASE_USER, "/keys/tee-key")
    cleared = judge()

    assert found["assignment.key_role_at_root"] == {root}
    assert "assignment.key_role_at_root" not in cleared


def test_keywarden_holding_a_key_use_role_is_found_until_revoked(judge, admin_sdk):
    name = assign(admin_sdk, settings.HSM_PRINCIPAL_ID, CRYPTO_USER, "/keys")

    found = judge()
    admin_sdk.access_control.delete_role_assignment("/keys", name)
    cleared = judge()

    assert found["principal.keywarden_exceeds_role"] == {settings.HSM_PRINCIPAL_ID}
    finding = Finding.objects.get(rule="principal.keywarden_exceeds_role")
    assert "Microsoft.KeyVault/managedHsm/keys/sign/action" in finding.evidence["key_use_actions"]
    assert "principal.keywarden_exceeds_role" not in cleared


def test_an_unreviewed_custom_role_is_found_until_reviewed(judge, admin_sdk, settings):
    role = str(uuid.uuid4())
    admin_sdk.access_control.set_role_definition(
        "/",
        name=role,
        role_name="Shadow key reader",
        permissions=[
            KeyVaultPermission(data_actions=["Microsoft.KeyVault/managedHsm/keys/read/action"])
        ],
    )

    found = judge()
    settings.POSTURE_REVIEWED_ROLES = [role]
    cleared = judge()

    # Keywarden's own role and the audit signer's are reviewed by definition.
    assert found["role.unreviewed"] == {role}
    assert "role.unreviewed" not in cleared


def test_purge_protection_off_or_short_retention_is_found_until_fixed(
    judge, hsm, operator_sdk, settings
):
    settings.POSTURE_MIN_RETENTION_DAYS = 30
    operator_sdk.keys.create_ec_key("recovery-witness")

    unprotected = judge()
    unprotected_summary = Finding.objects.get(rule="hsm.weak_recovery").summary
    hsm.process.set_recovery(purge_protection=True, retention_days=14)
    judge()
    short_summary = Finding.objects.get(rule="hsm.weak_recovery").summary
    hsm.process.set_recovery(purge_protection=True, retention_days=30)
    cleared = judge()

    assert unprotected["hsm.weak_recovery"] == {"hsm"}
    assert unprotected_summary == "Recovery is weaker than required: purge protection is off."
    assert short_summary == (
        "Recovery is weaker than required: deleted keys are kept 14 days (minimum 30)."
    )
    assert "hsm.weak_recovery" not in cleared


def test_no_recent_full_backup_is_found_until_one_runs_and_again_when_it_ages(judge, hsm):
    now = timezone.now()

    never = judge(now=now)
    container = "https://account.blob.core.windows.net/backups"
    record_full_backup(
        request_id=uuid.uuid4(),
        container_url=container,
        folder_url=hsm.admin.full_backup(container_url=container),
        now=now,
        ctx=AuditContext.system("test"),
    )
    fresh = judge(now=now + timedelta(hours=1))
    aged = judge(now=now + timedelta(hours=settings.POSTURE_BACKUP_MAX_AGE_HOURS, minutes=1))

    assert never["hsm.no_recent_full_backup"] == {"hsm"}
    assert "hsm.no_recent_full_backup" not in fresh
    assert aged["hsm.no_recent_full_backup"] == {"hsm"}
    assert Finding.objects.get(rule="hsm.no_recent_full_backup").times_reopened == 1


def test_release_policies_with_unapproved_authorities_or_no_claims_are_found_until_fixed(
    judge, operator_sdk
):
    rogue = {
        **STRONG_POLICY,
        "anyOf": [{**STRONG_POLICY["anyOf"][0], "authority": "https://x.example"}],
    }
    type_only = {
        "version": "1.0.0",
        "anyOf": [
            {
                "authority": ATTESTATION,
                "allOf": [{"claim": "x-ms-attestation-type", "equals": "sevsnpvm"}],
            }
        ],
    }
    for name, document in (
        ("rogue-key", rogue),
        ("loose-key", type_only),
        ("good-key", STRONG_POLICY),
    ):
        operator_sdk.keys.create_rsa_key(name, exportable=True, release_policy=policy(document))

    found = judge()
    for name in ("rogue-key", "loose-key"):
        operator_sdk.keys.update_key_properties(name, release_policy=policy(STRONG_POLICY))
    cleared = judge()

    assert found["key.untrusted_release_policy"] == {"rogue-key", "loose-key"}
    problems = {
        f.subject: f.evidence["problems"]
        for f in Finding.objects.filter(rule="key.untrusted_release_policy")
    }
    assert problems == {
        "rogue-key": ["anyOf.0.authority: authority https://x.example is not approved"],
        "loose-key": ["anyOf.0: pins no claim beyond the attestation type"],
    }
    assert "key.untrusted_release_policy" not in cleared


def test_an_exportable_key_without_release_policy_is_found():
    # The HSM itself refuses this state (an exportable key needs a policy), so it cannot be
    # made in the emulator: the rule is judged on a reading that shows it.
    key = KeyInfo(
        name="bare-key",
        version="1",
        kid="k",
        kty="RSA-HSM",
        key_size=2048,
        curve=None,
        key_ops=(),
        enabled=True,
        exportable=True,
        created_on=None,
        updated_on=None,
        not_before=None,
        expires_on=None,
        tags={},
    )
    snapshot = HsmSnapshot(
        now=timezone.now(),
        definitions={},
        assignments=(),
        principal_types={},
        exportable_keys=(key,),
        recovery_key=key,
        last_full_backup=None,
        keywarden_principal=settings.HSM_PRINCIPAL_ID,
    )

    hits = RULES_BY_ID["key.exportable_without_policy"].check(snapshot)

    assert [(h.subject, h.key_name, h.summary) for h in hits] == [
        ("bare-key", "bare-key", "Key bare-key is exportable but has no release policy.")
    ]
