"""The HSM emulator for the test session, and the identities tests act as on it."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from hsm_emulator.client.launcher import EmulatorProcess
from keys.gateway import HsmGateway, build_gateway, get_gateway, get_probe_gateway
from keys.services.bootstrap import bootstrap_keywarden_role

HSM_ADMIN_OID = "00000000-0000-0000-0000-00000000a001"
# Someone with key rights who works on the HSM directly, behind Keywarden's back.
OUT_OF_BAND_OID = "00000000-0000-0000-0000-0000000000c1"
CRYPTO_USER = "21dbd100-6940-42c2-9190-5d6cb909625b"
CRYPTO_OFFICER = "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"
ROLE_ID_PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"


@dataclass
class TestHsm:
    """The running emulator and gateways for the HSM admin and the out-of-band operator."""

    process: EmulatorProcess
    admin: HsmGateway
    operator: HsmGateway

    @property
    def keywarden(self) -> HsmGateway:
        return get_gateway()

    def reset(self) -> None:
        """Back to an empty HSM with Keywarden's role and the operator's rights in place."""
        self.process.clear_faults()
        self.process.reset()
        bootstrap_keywarden_role(admin_gateway=self.admin)
        for number, role in enumerate((CRYPTO_USER, CRYPTO_OFFICER)):
            self.admin.create_role_assignment(
                scope="/keys",
                role_definition_id=ROLE_ID_PREFIX + role,
                principal_id=OUT_OF_BAND_OID,
                name=f"00000000-0000-0000-0000-0000000000f{number}",
            )

    def calls_since(self, seq: int) -> list[dict]:
        """Authenticated data-plane calls the emulator served after `seq` (not the 401 probes)."""
        return [r for r in self.process.requests_since(seq) if r.get("principal")]


def start_test_hsm(data_dir) -> TestHsm:
    process = EmulatorProcess(data_dir, initial_admins=[HSM_ADMIN_OID]).start()
    settings.HSM_URL, settings.HSM_CA_FILE = process.url, process.ca_path
    settings.HSM_CREDENTIAL = "emulator"
    get_gateway.cache_clear()
    get_probe_gateway.cache_clear()
    hsm = TestHsm(
        process=process,
        admin=build_gateway(object_id=HSM_ADMIN_OID),
        operator=build_gateway(object_id=OUT_OF_BAND_OID),
    )
    hsm.reset()
    return hsm
