"""The BYOK page per team (what each role sees, other teams refused) and the public-key links
on the key page (asymmetric live keys only)."""

import pytest

from tests.factories import ManagedKeyFactory

KEK_LINK = (
    "/requests/new/key.create/?team=payments&amp;name=pay-kek&amp;kty=RSA-HSM&amp;size=4096"
    "&amp;key_ops=import&amp;is_kek=true"
)


@pytest.fixture
def keks(payments_team, identity_team):
    rsa = {"kty": "RSA-HSM", "curve": "", "key_size": 4096, "key_ops": ["import"], "is_kek": True}
    return [
        ManagedKeyFactory(name="pay-kek-a", team=payments_team, **rsa),
        ManagedKeyFactory(name="pay-kek-gone", team=payments_team, state="deleted", **rsa),
        ManagedKeyFactory(name="pay-signing", team=payments_team, kty="RSA-HSM", curve=""),
        ManagedKeyFactory(name="idn-kek", team=identity_team, **rsa),
    ]


def test_a_member_gets_the_prefilled_kek_link_and_the_teams_live_keks(keks, requester, client_for):
    response = client_for(requester).get("/byok/")

    page = response.content.decode()
    assert response.status_code == 200
    assert KEK_LINK in page
    assert "/api/v1/keys/pay-kek-a/public-key/?format=pem" in page
    assert "/requests/new/key.import/?team=payments" in page
    for not_listed in ("pay-kek-gone", "pay-signing", "idn-kek"):
        assert not_listed not in page


def test_a_custodian_reads_a_teams_page_without_request_links(keks, custodian, client_for):
    response = client_for(custodian).get("/byok/?team=identity")

    page = response.content.decode()
    assert response.status_code == 200
    assert "/api/v1/keys/idn-kek/public-key/?format=pem" in page
    assert "/requests/new/" not in page
    assert "Members of Identity request it; custodians approve it." in page


@pytest.mark.parametrize(("_case", "team"), [("another team", "identity"), ("no team", "nope")])
def test_a_team_the_user_may_not_see_is_not_found(_case, team, keks, requester, client_for):
    response = client_for(requester).get(f"/byok/?team={team}")

    assert response.status_code == 404
    assert b"idn-kek" not in response.content


@pytest.mark.parametrize(
    ("_case", "fields", "has_links"),
    [
        ("RSA", {"kty": "RSA-HSM", "curve": ""}, True),
        ("EC", {"kty": "EC-HSM", "curve": "P-256"}, True),
        ("AES", {"kty": "oct-HSM", "curve": "", "key_size": 256}, False),
        ("deleted RSA", {"kty": "RSA-HSM", "curve": "", "state": "deleted"}, False),
    ],
)
def test_the_key_page_links_the_public_key_of_live_asymmetric_keys(
    _case, fields, has_links, payments_team, requester, client_for
):
    ManagedKeyFactory(name="pay-k", team=payments_team, **fields)

    page = client_for(requester).get("/keys/pay-k/").content.decode()

    assert ('href="/api/v1/keys/pay-k/public-key/?format=jwk"' in page) is has_links
    assert ('href="/api/v1/keys/pay-k/public-key/?format=pem"' in page) is has_links
