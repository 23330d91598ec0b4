"""The demo's custody register: three holders at three sites, a quorum of 2 (PRODUCT.md §11)."""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.db import transaction

from audit.context import AuditContext
from custody import services
from custody.certificates import read_certificate
from custody.models import SecurityDomain, TokenType
from custody.selectors import active_holders

DEMO_HOLDERS = (
    ("Ines Ortega", TokenType.FIPS_TOKEN, "Amsterdam"),
    ("Jonas Berg", TokenType.SMART_CARD, "Frankfurt"),
    ("Kai Tanaka", TokenType.FIPS_TOKEN, "Dublin"),
)
DEMO_QUORUM = 2


def _self_signed(name: str, now: datetime.datetime) -> str:
    """A certificate as a holder's token would make it (the private key stays "on the token":
    the demo throws it away)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@transaction.atomic
def seed_custody_register(*, now: datetime.datetime, ctx: AuditContext) -> SecurityDomain:
    """The demo register, made once (audited like any change; a second run changes nothing)."""
    register = services.ensure_register()
    if active_holders(register).exists():
        return register
    for person, token_type, site in DEMO_HOLDERS:
        facts = read_certificate(_self_signed(person, now), field="certificate", now=now)
        params = {
            "person": person,
            "user": None,
            "token_type": token_type,
            "site": site,
            "certificate_pem": facts.pem,
            "thumbprint": facts.thumbprint,
            "certificate_expires_at": facts.expires_at.isoformat(),
        }
        services.add_holder(params=params, request_id=None, now=now, ctx=ctx)
    services.set_quorum(params={"quorum": DEMO_QUORUM}, request_id=None, now=now, ctx=ctx)
    return services.ensure_register()
