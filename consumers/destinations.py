"""The destination guard: which addresses consumer requests may reach.

A consumer's URL is chosen by a scope's consumer admin, and our workers call it from our
network position. So every address is checked against ``RM_CONSUMER_BLOCKED_NETWORKS``
(default: loopback, link-local such as the cloud metadata service, unspecified), unless
``RM_CONSUMER_ALLOWED_NETWORKS`` lets it through. IPv4-mapped IPv6 addresses are checked
as the IPv4 address they carry; numeric hosts such as ``2130706433`` or ``0177.0.0.1``
are read as the resolver reads them.

``check_url`` runs when a consumer is saved. ``session`` gives the requests session every
builder uses: its connections resolve the host, refuse it if any address is blocked and
connect only to the addresses just checked (TLS still verifies the host name). Each
redirect is a new connection and is checked the same way. Environment proxies are not
used, since a proxy would make the connection, not us.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError

from consumers.base import DeliveryError

#: Resolves a host name (and port) to its addresses, as text.
Resolver = Callable[[str, int], Iterable[str]]


class BlockedDestination(DeliveryError):
    """The host is, or resolves to, an address in a blocked network. Never retried."""

    def __init__(self, host: str, network: str) -> None:
        self.network = network
        super().__init__(
            f"{host} is not an allowed destination: its address is in the blocked network "
            f"{network} (RM_CONSUMER_BLOCKED_NETWORKS)",
            transient=False,
        )


def _networks(items: Iterable[str]) -> list[IPv4Network | IPv6Network]:
    """The networks of a setting (checked at start-up: settings.py)."""
    return [ip_network(item.strip(), strict=False) for item in items if item.strip()]


def blocking_network(address: str) -> str | None:
    """The blocked network ``address`` lies in (as text), or None when it may be reached."""
    parsed: IPv4Address | IPv6Address = ip_address(address)
    if isinstance(parsed, IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    if any(parsed in network for network in _networks(settings.RM_CONSUMER_ALLOWED_NETWORKS)):
        return None
    blocked = _networks(settings.RM_CONSUMER_BLOCKED_NETWORKS)
    return next((str(network) for network in blocked if parsed in network), None)


def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` in the resolver's order (numeric hosts as ``inet_aton``
    reads them); raises ``socket.gaierror`` when it has none."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in found))


def checked_addresses(host: str, port: int, resolver: Resolver = resolve) -> list[str]:
    """The addresses of ``host``, all of them allowed; BlockedDestination if any is not."""
    addresses = list(resolver(host, port))
    for address in addresses:
        network = blocking_network(address)
        if network is not None:
            raise BlockedDestination(host, network)
    return addresses


def check_url(url: str, resolver: Resolver = resolve) -> None:
    """Refuse a URL whose host is a blocked address or resolves only to blocked ones.

    For saving a consumer: a name that does not resolve yet is let through, as is one
    with some allowed addresses; every request checks again, and refuses any blocked one.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        addresses = list(resolver(host, parts.port or (443 if parts.scheme == "https" else 80)))
    except (OSError, ValueError):
        return
    networks = [blocking_network(address) for address in addresses]
    if networks and all(networks):
        raise BlockedDestination(host, str(networks[0]))


class _Pinned(HTTPConnection):
    """Connects only to checked addresses of its host. ``self.host`` stays the name, so
    the Host header, SNI and certificate verification are unchanged."""

    def _new_conn(self) -> socket.socket:
        name = self._dns_host  # urllib3's name for the socket's host
        try:
            addresses = checked_addresses(name, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        try:
            for address in addresses[:-1]:
                self._dns_host = address
                with contextlib.suppress(ConnectTimeoutError):  # try the next address
                    return super()._new_conn()
            self._dns_host = addresses[-1]
            return super()._new_conn()
        finally:
            self._dns_host = name


class _PinnedHTTPS(_Pinned, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _Pinned


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPS


class GuardedAdapter(HTTPAdapter):
    """An adapter whose connections go through the destination guard, never a proxy."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
             ) -> requests.Response:
        kwargs["proxies"] = {}
        return super().send(request, *args, **kwargs)


def session() -> requests.Session:
    """A requests session whose every request (and redirect) is guarded."""
    guarded = requests.Session()
    adapter = GuardedAdapter()
    guarded.mount("http://", adapter)
    guarded.mount("https://", adapter)
    return guarded
