"""The client address: REMOTE_ADDR, unless a trusted proxy passed on X-Forwarded-For."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from core.client_ip import client_ip, trusted_networks

PROXIES = ["10.0.0.0/24", "2001:db8:ffff::/48"]


def request_from(peer: str, forwarded_for: str | None = None):
    headers = {} if forwarded_for is None else {"HTTP_X_FORWARDED_FOR": forwarded_for}
    return RequestFactory().get("/", REMOTE_ADDR=peer, **headers)


@pytest.mark.parametrize(
    ("_case", "peer", "forwarded_for", "ip"),
    [
        ("no header", "192.0.2.1", None, "192.0.2.1"),
        ("header ignored", "192.0.2.1", "203.0.113.7", "192.0.2.1"),
        ("malformed peer", "not-an-ip", "203.0.113.7", ""),
        ("ipv6 normalized", "2001:DB8:0:0::1", None, "2001:db8::1"),
    ],
)
def test_without_trusted_proxies_the_peer_is_the_client(_case, peer, forwarded_for, ip, settings):
    settings.TRUSTED_PROXIES = []
    assert client_ip(request_from(peer, forwarded_for)) == ip


@pytest.mark.parametrize(
    ("_case", "peer", "forwarded_for", "ip"),
    [
        ("one proxy", "10.0.0.5", "203.0.113.7", "203.0.113.7"),
        ("client-written entries ignored", "10.0.0.5", "1.1.1.1, 203.0.113.7", "203.0.113.7"),
        ("two trusted hops", "10.0.0.5", "1.1.1.1, 203.0.113.7, 10.0.0.9", "203.0.113.7"),
        ("with a port", "10.0.0.5", "203.0.113.7:51234", "203.0.113.7"),
        ("ipv6 with a port", "10.0.0.5", "[2001:DB8::7]:443", "2001:db8::7"),
        ("ipv6 proxy", "2001:db8:ffff::1", "203.0.113.7", "203.0.113.7"),
        ("only proxies", "10.0.0.5", "10.0.0.9", "10.0.0.9"),
        ("no header", "10.0.0.5", None, "10.0.0.5"),
        ("garbage: the proxy that passed it on", "10.0.0.5", "1.1.1.1, junk", "10.0.0.5"),
        ("garbage further left", "10.0.0.5", "junk, 203.0.113.7", "203.0.113.7"),
        ("untrusted peer", "192.0.2.1", "203.0.113.7", "192.0.2.1"),
    ],
)
def test_behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client(
    _case, peer, forwarded_for, ip, settings
):
    settings.TRUSTED_PROXIES = PROXIES
    assert client_ip(request_from(peer, forwarded_for)) == ip


def test_a_malformed_trusted_proxy_is_refused():
    with pytest.raises(
        ImproperlyConfigured, match=r"TRUSTED_PROXIES entries .* got '10\.0\.0\.0/33'"
    ):
        trusted_networks(["10.0.0.1", "10.0.0.0/33"])
