"""Posture fixtures: out-of-band SDK clients on the emulator, and one evaluation as a call."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.utils import timezone

from audit.context import AuditContext
from hsm_emulator.client.testing import make_clients
from keys.services.sync import sync_inventory
from posture.models import Finding
from posture.services import evaluate_posture
from tests.support.hsm import HSM_ADMIN_OID, OUT_OF_BAND_OID
from tests.web.conftest import (  # noqa: F401 (fixtures)
    browser_type_launch_args,
    browsing,
    client_for,
    screenshot,
)

ATTESTATION = "https://attest.emulator.test"
STRONG_POLICY = {
    "version": "1.0.0",
    "anyOf": [
        {
            "authority": ATTESTATION,
            "allOf": [
                {"claim": "x-ms-attestation-type", "equals": "sevsnpvm"},
                {"claim": "x-ms-compliance-status", "equals": "azure-compliant-cvm"},
                {"claim": "x-ms-sevsnpvm-launchmeasurement", "equals": "ab12"},
            ],
        }
    ],
}


@pytest.fixture
def admin_sdk(hsm):
    """The HSM administrator's official SDK clients (role definitions and assignments)."""
    return make_clients(hsm.process.url, hsm.process.ca_path, HSM_ADMIN_OID)


@pytest.fixture
def operator_sdk(hsm):
    """Official SDK clients of someone working on the HSM behind Keywarden's back (Crypto User
    and Crypto Officer at /keys)."""
    return make_clients(hsm.process.url, hsm.process.ca_path, OUT_OF_BAND_OID)


@pytest.fixture
def judge(hsm):
    """`judge(now=None)`: sync the inventory, evaluate the posture, and return the unresolved
    findings as {rule: {subject, ...}}."""

    def run(now: datetime | None = None) -> dict[str, set[str]]:
        sync_inventory(ctx=AuditContext.system("test"))
        evaluate_posture(ctx=AuditContext.system("test"), now=now or timezone.now())
        found: dict[str, set[str]] = {}
        for rule, subject in Finding.objects.filter(resolved_at=None).values_list(
            "rule", "subject"
        ):
            found.setdefault(rule, set()).add(subject)
        return found

    return run
