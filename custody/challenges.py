"""Proof of possession: a server nonce the holder signs with their token's key (RSA PKCS#1
v1.5, SHA-256, e.g. `openssl dgst -sha256 -sign`), verified against their certificate. The
nonce is stateless: signed by the portal, naming the holder, valid CHALLENGE_SECONDS."""

from __future__ import annotations

import base64
import binascii
import secrets

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from django.core import signing

from core.errors import Invalid
from custody.models import Holder

CHALLENGE_SECONDS = 600
_SALT = "keywarden.custody.possession"


def issue_challenge(holder: Holder) -> str:
    """A fresh nonce for `holder` to sign."""
    return signing.dumps({"holder": str(holder.pk), "n": secrets.token_urlsafe(16)}, salt=_SALT)


def verify_challenge(holder: Holder, *, nonce: str, signature: str) -> None:
    """Raises Invalid (on `nonce` or `signature`) unless `signature` is the holder's token
    key signing this holder's unexpired nonce."""
    try:
        issued = signing.loads(nonce, salt=_SALT, max_age=CHALLENGE_SECONDS)
    except signing.SignatureExpired:
        raise Invalid({"nonce": ["The nonce has expired; ask for a new one."]}) from None
    except signing.BadSignature:
        raise Invalid({"nonce": ["Not a nonce this portal issued."]}) from None
    if issued.get("holder") != str(holder.pk):
        raise Invalid({"nonce": ["This nonce was issued to another holder."]})
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid({"signature": ["The signature must be base64."]}) from None
    public_key = x509.load_pem_x509_certificate(holder.certificate_pem.encode()).public_key()
    try:
        public_key.verify(raw, nonce.encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise Invalid(
            {"signature": ["The signature does not verify with the holder's certificate."]}
        ) from None
