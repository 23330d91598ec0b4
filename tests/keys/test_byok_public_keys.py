"""Public-key download (JWK and PEM, with the kid) of asymmetric keys and each version, read
from the HSM (the emulator, through the gateway's SDK client) and checked against what the
HSM's own SDK client returns; authorization per team like the key page."""

import base64

import pytest
from cryptography.hazmat.primitives import serialization

from hsm_emulator.client.testing import make_clients
from keys.models import KeyVersion
from tests.factories import ManagedKeyFactory
from tests.support.hsm import OUT_OF_BAND_OID


def b64url(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def sdk(hsm_session):
    """The HSM read independently: the operator's own Azure SDK clients."""
    return make_clients(hsm_session.process.url, hsm_session.process.ca_path, OUT_OF_BAND_OID)


def mirrored(team, info, **fields):
    """The inventory row a sync would leave for a key the operator made, with its versions."""
    row = ManagedKeyFactory(
        name=info.name, team=team, kty=info.kty, current_version=info.version, **fields
    )
    KeyVersion.objects.create(key=row, version=info.version, created_on=info.created_on)
    return row


@pytest.fixture
def rsa_key(hsm, payments_team):
    info = hsm.operator.create_key("pay-signing", kty="RSA-HSM", size=2048, key_ops=["sign"])
    return mirrored(payments_team, info, key_size=2048, curve="", key_ops=["sign"])


def test_jwk_is_the_hsm_public_key_with_its_kid(rsa_key, sdk, requester, api_client_for):
    # when
    response = api_client_for(requester).get("/api/v1/keys/pay-signing/public-key/?format=jwk")
    # then
    hsm_key = sdk.keys.get_key("pay-signing")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/jwk+json"
    assert response.json() == {
        "kty": "RSA",
        "kid": hsm_key.id,
        "n": b64url(hsm_key.key.n),
        "e": b64url(hsm_key.key.e),
    }


def test_a_client_asking_for_json_gets_the_jwk(rsa_key, requester, api_client_for):
    response = api_client_for(requester).get(
        "/api/v1/keys/pay-signing/public-key/", HTTP_ACCEPT="application/json"
    )

    assert (response.status_code, response["Content-Type"]) == (200, "application/json")
    assert sorted(response.json()) == ["e", "kid", "kty", "n"]


def test_pem_of_an_ec_version_is_its_subject_public_key_info(
    hsm, sdk, payments_team, requester, api_client_for
):
    # given: an EC key rotated once; the first version is asked for
    first = hsm.operator.create_key("pay-ec", kty="EC-HSM", curve="P-384", key_ops=["sign"])
    row = mirrored(payments_team, first, curve="P-384", key_ops=["sign"])
    second = hsm.operator.rotate_key("pay-ec")
    KeyVersion.objects.create(key=row, version=second.version)
    # when
    response = api_client_for(requester).get(
        f"/api/v1/keys/pay-ec/versions/{first.version}/public-key/?format=pem"
    )
    # then
    kid_line, pem = response.content.decode().split("\n", 1)
    hsm_key = sdk.keys.get_key("pay-ec", first.version)
    public = serialization.load_pem_public_key(pem.encode()).public_numbers()
    assert response["Content-Type"] == "application/x-pem-file; charset=utf-8"
    assert kid_line == f"kid: {hsm_key.id}"
    assert hsm_key.id.endswith(f"/keys/pay-ec/{first.version}")
    assert (public.curve.name, public.x, public.y) == (
        "secp384r1",
        int.from_bytes(hsm_key.key.x, "big"),
        int.from_bytes(hsm_key.key.y, "big"),
    )
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n")


@pytest.mark.parametrize(
    ("_case", "user", "status"),
    [
        ("owner team's requester", "requester", 200),
        ("custodian", "custodian", 200),
        ("admin", "admin_user", 200),
        ("auditor", "auditor", 200),
        ("another team's requester", "other_requester", 404),
        ("no role", "outsider", 404),
    ],
)
def test_public_key_is_readable_by_whoever_may_open_the_key_page(
    _case, user, status, rsa_key, request, api_client_for
):
    response = api_client_for(request.getfixturevalue(user)).get(
        "/api/v1/keys/pay-signing/public-key/"
    )

    assert response.status_code == status
    assert ("kid" in response.json()) is (status == 200)


def test_anonymous_gets_no_public_key(rsa_key, anonymous_client):
    assert anonymous_client.get("/api/v1/keys/pay-signing/public-key/").status_code == 401


@pytest.mark.parametrize(
    ("_case", "path", "status", "detail"),
    [
        (
            "symmetric key",
            "/api/v1/keys/pay-aes/public-key/",
            404,
            "Key pay-aes is oct-HSM: only RSA and EC keys have a public key.",
        ),
        (
            "unknown version",
            "/api/v1/keys/pay-signing/versions/0123abcd/public-key/",
            404,
            "Key pay-signing has no version 0123abcd in the inventory.",
        ),
        (
            "deleted key",
            "/api/v1/keys/pay-gone/public-key/?format=pem",
            409,
            "Key pay-gone is deleted; its public key is readable once it is recovered.",
        ),
    ],
)
def test_a_public_key_that_does_not_exist_is_refused_with_the_reason(
    _case, path, status, detail, rsa_key, payments_team, requester, api_client_for, hsm
):
    # given
    ManagedKeyFactory(name="pay-aes", team=payments_team, kty="oct-HSM", curve="", key_size=256)
    ManagedKeyFactory(name="pay-gone", team=payments_team, kty="RSA-HSM", state="deleted")
    seq = hsm.process.latest_seq()
    # when
    response = api_client_for(requester).get(path)
    # then
    assert (response.status_code, response.json()) == (status, {"detail": detail})
    assert response["Content-Type"] == "application/json"
    assert hsm.calls_since(seq) == []


def test_an_unknown_format_names_the_known_ones(rsa_key, requester, api_client_for):
    response = api_client_for(requester).get("/api/v1/keys/pay-signing/public-key/?format=der")

    assert response.status_code == 400
    assert response.json()["errors"] == {"format": ["Must be one of: jwk, pem."]}
