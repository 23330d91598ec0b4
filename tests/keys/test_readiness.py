"""The readiness check of Keywarden's HSM identity, against the emulator through the SDK."""

import pytest

from keys.services.bootstrap import bootstrap_audit_signer
from keys.services.readiness import MissingPermissions, check_hsm
from tests.support.hsm import CRYPTO_USER, ROLE_ID_PREFIX


@pytest.fixture
def checkpoint_key(hsm, settings):
    key, _ = bootstrap_audit_signer(admin_gateway=hsm.admin, key_manager_gateway=hsm.keywarden)
    return key


def test_bootstrapped_identity_is_ready(hsm, checkpoint_key):
    # when
    status = check_hsm(gateway=hsm.keywarden)
    # then
    assert status.endswith("reachable; all 15 data actions granted")


def test_identity_that_may_sign_checkpoints_is_not_ready(hsm, checkpoint_key, settings):
    # given: Keywarden's identity granted itself use of the checkpoint key
    hsm.admin.create_role_assignment(
        scope=f"/keys/{checkpoint_key.name}",
        role_definition_id=ROLE_ID_PREFIX + CRYPTO_USER,
        principal_id=settings.HSM_PRINCIPAL_ID,
        name="00000000-0000-0000-0000-0000000000e1",
    )
    # when / then
    with pytest.raises(MissingPermissions, match="may use the audit checkpoint key"):
        check_hsm(gateway=hsm.keywarden)
