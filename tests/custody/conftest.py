"""Fixtures of the custody tests: the platform team that asks for register changes, key
holders with real certificates (the holders' side of tests/support/security_domain), and a
register filled through the custody services the worker applies approved changes with."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from django.db import transaction
from django.utils import timezone

from audit.context import AuditContext
from custody import services
from custody.certificates import read_certificate
from custody.selectors import active_holders, register_of
from tests.factories import TeamFactory, UserFactory
from tests.support.security_domain import KeyHolder, make_holder


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
