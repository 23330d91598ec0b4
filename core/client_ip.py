"""The client's IP address: the one answer the audit trail, sign-in lockout (django-axes) and
the API's throttles share.

X-Forwarded-For is read only when the direct peer is a trusted proxy (settings.TRUSTED_PROXIES,
empty by default). Each proxy appends the address it saw, so the list is read from the right:
trusted hops are skipped, and the first untrusted address is the client. Anything to its left was
written by the client and is ignored, so a rotating header changes nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def trusted_networks(values: Iterable[str], *, setting: str = "TRUSTED_PROXIES") -> list[Network]:
    """IPs and CIDRs (`10.0.0.0/8`, `::1`) as networks. Raises ImproperlyConfigured naming the
    malformed entry, so a typo fails at start-up instead of trusting nothing or everything."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"{setting} entries must be IP addresses or CIDRs, got {value!r}"
            ) from exc
    return networks


def client_ip(request: Any) -> str:
    """The client address of a Django or DRF request, canonical text ('' when REMOTE_ADDR is
    absent or malformed). Also django-axes' AXES_CLIENT_IP_CALLABLE."""
    meta = request.META
    peer = parse_address(meta.get("REMOTE_ADDR", ""))
    if peer is None:
        return ""
    trusted = trusted_networks(settings.TRUSTED_PROXIES)
    if not _is_trusted(peer, trusted):
        return str(peer)
    nearest = peer
    for hop in reversed(meta.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        address = parse_address(hop)
        if address is None:  # a trusted proxy passed on garbage: it is the last hop we know
            return str(nearest)
        if not _is_trusted(address, trusted):
            return str(address)
        nearest = address
    return str(nearest)  # only proxies (or no header at all): the left-most one seen


def parse_address(raw: str) -> Address | None:
    """An address as proxies write it: `203.0.113.9`, `2001:db8::1`, `203.0.113.9:443` or
    `[2001:db8::1]:443`; None when it is none of those."""
    text = raw.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_trusted(address: Address, trusted: list[Network]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)
