"""Fixtures of the custody tests: the platform team that asks for register changes, key
holders with real certificates (the holders' side of tests/support/security_domain), and a
register filled through the custody services the worker applies approved changes with."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from azure.keyvault.keys.crypto import SignatureAlgorithm
from azure.keyvault.securitydomain import SecurityDomainClient
from cryptography.hazmat.primitives import serialization
from django.db import transaction
from django.utils import timezone

from audit.context import AuditContext
from custody import services
from custody.certificates import read_certificate
from custody.rehearsal import SignatureProof
from custody.selectors import active_holders, register_of
from hsm_emulator.client.credentials import EmulatorCredential
from hsm_emulator.client.testing import EmulatorProcess, client_kwargs, make_clients
from tests.factories import TeamFactory, UserFactory
from tests.support.hsm import CRYPTO_USER, HSM_ADMIN_OID, ROLE_ID_PREFIX
from tests.support.security_domain import KeyHolder, certificate_info, make_holder


@pytest.fixture
def platform_team(db):
    return TeamFactory(slug="hsm-platform", name="HSM platform", key_prefix="hsm-")


@pytest.fixture
def platform_requester(platform_team):
    return UserFactory(username="pat", access={"teams": [platform_team]})


@pytest.fixture(scope="session")
def key_holders() -> list[KeyHolder]:
    """Three holders' key pairs and self-signed certificates (made once: RSA is slow)."""
    return [make_holder(f"holder-{index}") for index in range(3)]


def pem_of(holder: KeyHolder) -> str:
    return holder.certificate.public_bytes(serialization.Encoding.PEM).decode()


def holder_params(holder: KeyHolder, person: str, site: str, user=None) -> dict:
    """The normalized params of an approved custody.add_holder, as validation makes them."""
    facts = read_certificate(pem_of(holder), field="certificate_pem", now=timezone.now())
    return {
        "person": person,
        "user": user.username if user else None,
        "token_type": "fips_token",
        "site": site,
        "certificate_pem": facts.pem,
        "thumbprint": facts.thumbprint,
        "certificate_expires_at": facts.expires_at.isoformat(),
    }


def fill_register(key_holders, *, sites=("Amsterdam", "Frankfurt", "Dublin"), users=(), quorum=2):
    """A register of len(sites) holders (the first ones linked to `users`) and a quorum, as
    approved requests would leave it; returns the active holders."""
    ctx, now = AuditContext.system("test"), timezone.now()
    with transaction.atomic():
        for index, site in enumerate(sites):
            user = users[index] if index < len(users) else None
            params = holder_params(key_holders[index], f"Holder {index}", site, user)
            services.add_holder(params=params, request_id=None, now=now, ctx=ctx)
        if quorum:
            services.set_quorum(params={"quorum": quorum}, request_id=None, now=now, ctx=ctx)
    return list(active_holders(register_of()))


# --- recovery rehearsals: a source HSM with a key that signed, and a scratch HSM ----------
QUIET = ["--rotation-tick", "3600"]
SIGNER = "10000000-0000-0000-0000-000000000001"
DIGEST = bytes(range(32))


def download(hsm, holders) -> str:
    client = SecurityDomainClient(
        hsm.url, EmulatorCredential(HSM_ADMIN_OID), **client_kwargs(hsm.ca_path)
    )
    return client.begin_download(certificate_info(holders, 2)).result().value


@pytest.fixture
def source(tmp_path, key_holders):
    """An HSM activated with the holders' certificates, one key that signed DIGEST, and the
    security domain file as the holders keep it."""
    with EmulatorProcess(tmp_path / "source", extra_args=["--not-activated", *QUIET]) as hsm:
        download(hsm, key_holders)  # activates
        admin = make_clients(hsm.url, hsm.ca_path, HSM_ADMIN_OID).access_control
        admin.create_role_assignment("/", ROLE_ID_PREFIX + CRYPTO_USER, SIGNER)
        user = make_clients(hsm.url, hsm.ca_path, SIGNER)
        key = user.keys.create_rsa_key("pay-proof", size=2048)
        signed = user.crypto(key).sign(SignatureAlgorithm.rs256, DIGEST).signature
        proof = SignatureProof("pay-proof", key.properties.version, "RS256", DIGEST, signed)
        yield download(hsm, key_holders), proof


@pytest.fixture
def scratch(tmp_path, settings, hsm_session):
    """A scratch HSM (not activated) under the session emulator's CA, so that a worker
    started with the session's HSM_CA_FILE reaches it too."""
    data_dir = tmp_path / "scratch"
    data_dir.mkdir()
    for name in ("ca.key", "ca.pem"):
        shutil.copy(Path(settings.HSM_CA_FILE).parent / name, data_dir / name)
    with EmulatorProcess(data_dir, extra_args=["--not-activated", *QUIET]) as hsm:
        settings.HSM_CA_FILE = hsm.ca_path
        yield hsm
