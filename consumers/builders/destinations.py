"""The destination guard: which addresses consumer requests may reach.

A consumer's URL is chosen by a scope's consumer admin, and our workers call it from our
network position. So every address is checked against ``RM_CONSUMER_BLOCKED_NETWORKS``
(default: loopback, link-local such as the cloud metadata services, unspecified), unless
``RM_CONSUMER_ALLOWED_NETWORKS`` lets it through. An IPv6 address that carries an IPv4
address (IPv4-mapped and -compatible, NAT64, 6to4, Teredo) is also judged by the IPv4
address it carries; numeric hosts such as ``2130706433`` or ``0177.0.0.1`` are read as the
resolver reads them.

``check_url`` runs when a consumer is saved. ``session`` gives the requests session every
builder uses: each request resolves its host once, is refused if any address is blocked
and connects only to the addresses just checked, while the Host header, TLS SNI and
certificate verification keep the host name. Each redirect is a new request and is
checked the same way. Connections are kept open between requests in pools of the process
(keyed by the checked address, and for TLS by the host name and verification): a request
reuses one only after its own resolution and check named that address. Environment
proxies are not used, since a proxy would make the connection, not us, nor is the
environment read per request (``trust_env`` off: no proxy scan, no ``.netrc``); the CA
bundle an operator names in ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` is read once, at
start (``RM_CONSUMER_CA_BUNDLE``). Connect and read timeouts never exceed
``RM_CONSUMER_CONNECT_TIMEOUT`` and ``RM_CONSUMER_READ_TIMEOUT``.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError

from consumers.builders.base import DeliveryError

#: Resolves a host name (and port) to its addresses, as text.
Resolver = Callable[[str, int], Iterable[str]]


class BlockedDestination(DeliveryError):
    """The host is, or resolves to, an address in a blocked network. Never retried."""

    def __init__(self, host: str, network: str) -> None:
        self.network = network
        super().__init__(
            f"{host} is not an allowed destination: its address is in the blocked network "
            f"{network} (RM_CONSUMER_BLOCKED_NETWORKS); an operator may allow it with "
            "RM_CONSUMER_ALLOWED_NETWORKS",
            transient=False,
        )


def _networks(items: Iterable[str]) -> tuple[IPv4Network | IPv6Network, ...]:
    """The networks of a setting (checked at start-up: settings.py), parsed once per value
    of the setting rather than on every request."""
    return _parsed(tuple(items))


@functools.lru_cache(maxsize=8)
def _parsed(items: tuple[str, ...]) -> tuple[IPv4Network | IPv6Network, ...]:
    return tuple(ip_network(item.strip(), strict=False) for item in items if item.strip())


#: NAT64 prefixes: the well-known one (the IPv4 address in the last 32 bits) and the
#: local-use one, whose operator picks where the IPv4 address sits (RFC 6052): every
#: well-formed place is judged.
_NAT64 = ip_network("64:ff9b::/96")
_LOCAL_NAT64 = ip_network("64:ff9b:1::/48")
_LOCAL_NAT64_PREFIX_LENGTHS = (48, 56, 64, 96)
_IPV4_COMPATIBLE = ip_network("::/96")


def _rfc6052_ipv4(address: IPv6Address, prefix_length: int) -> IPv4Address | None:
    """The IPv4 address embedded after a ``prefix_length`` NAT64 prefix (RFC 6052: bits
    64-71 are skipped and zero, as is the suffix), or None when it cannot be one."""
    packed = address.packed
    if prefix_length == 96:
        return IPv4Address(packed[12:16])
    if packed[8]:
        return None
    without_u = packed[:8] + packed[9:]
    start = prefix_length // 8
    if any(without_u[start + 4 :]):
        return None
    return IPv4Address(without_u[start : start + 4])


def embedded_ipv4(address: IPv6Address) -> list[IPv4Address]:
    """The IPv4 addresses a packet to ``address`` may end up at: IPv4-mapped and
    -compatible, NAT64, 6to4 and Teredo (server and client) addresses carry one."""
    found: list[IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        found.append(IPv4Address(address.packed[12:16]))
    if address in _LOCAL_NAT64:
        embedded = (_rfc6052_ipv4(address, length) for length in _LOCAL_NAT64_PREFIX_LENGTHS)
        found.extend(ipv4 for ipv4 in embedded if ipv4 is not None)
    return found


def blocking_network(address: str) -> str | None:
    """The blocked network ``address`` (or an IPv4 address it carries) lies in, as text,
    or None when it may be reached."""
    parsed: IPv4Address | IPv6Address = ip_address(address)
    allowed = _networks(settings.RM_CONSUMER_ALLOWED_NETWORKS)
    candidates = [parsed, *embedded_ipv4(parsed)] if isinstance(parsed, IPv6Address) else [parsed]
    blocked = _networks(settings.RM_CONSUMER_BLOCKED_NETWORKS)
    for candidate in candidates:
        if any(candidate in network for network in allowed):
            continue
        network = next((network for network in blocked if candidate in network), None)
        if network is not None:
            return str(network)
    return None


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


#: The attribute of a prepared request naming the checked address it connects to.
_PINNED_ADDRESS = "resourcemanager_pinned_address"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def bounded_timeout(timeout: Any) -> tuple[float, float]:
    """(connect, read) seconds: the caller's, never more than the settings allow, and the
    settings' when the caller gave none."""
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    connect_limit = settings.RM_CONSUMER_CONNECT_TIMEOUT
    read_limit = settings.RM_CONSUMER_READ_TIMEOUT
    return min(connect or connect_limit, connect_limit), min(read or read_limit, read_limit)


def _connect_failed(error: requests.ConnectionError) -> bool:
    """Whether no connection was made at all (so the next address may be tried)."""
    reason = getattr(error.args[0] if error.args else None, "reason", None)
    return isinstance(error, requests.ConnectTimeout) or isinstance(reason, NewConnectionError)


class GuardedAdapter(HTTPAdapter):
    """A transport adapter that connects only to checked addresses, never via a proxy.

    ``send`` resolves the host once and checks every address; the connection pool of the
    request is then the pinned address's (``build_connection_pool_key_attributes``), with
    the host name for the Host header, SNI and the certificate check. Certificates are
    verified against ``RM_CONSUMER_CA_BUNDLE`` when it is set.
    """

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: Any = None, verify: bool | str = True, cert: Any = None,
             proxies: Any = None) -> requests.Response:
        if verify is True and settings.RM_CONSUMER_CA_BUNDLE:
            verify = settings.RM_CONSUMER_CA_BUNDLE
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        try:
            addresses = checked_addresses(host, parts.port or _DEFAULT_PORTS.get(parts.scheme, 0))
        except (OSError, UnicodeError) as exc:
            raise requests.ConnectionError(f"cannot resolve {host}", request=request) from exc
        for position, address in enumerate(addresses, start=1):
            pinned = request.copy()
            pinned.headers.setdefault("Host", parts.netloc.rpartition("@")[2])
            setattr(pinned, _PINNED_ADDRESS, address)
            try:
                response = super().send(pinned, stream=stream, timeout=bounded_timeout(timeout),
                                        verify=verify, cert=cert, proxies={})
            except requests.ConnectionError as error:
                if position < len(addresses) and _connect_failed(error):
                    continue  # try the next checked address
                raise
            response.request = request  # redirects start from the request as it was made
            return response
        raise requests.ConnectionError(f"{host} has no address", request=request)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        address = getattr(request, _PINNED_ADDRESS, None)
        if address is None:
            raise RuntimeError("a guarded connection is only made for a checked address")
        name = host_params["host"]
        host_params["host"] = address
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = name
            pool_kwargs["assert_hostname"] = name
        return host_params, pool_kwargs


    def close(self) -> None:
        """Keep the pools: they are the process's (``session``), not one session's."""


#: Destinations (checked address, port, TLS host name) whose connections a process keeps.
POOLED_DESTINATIONS = 32


@functools.cache
def _process_adapter() -> GuardedAdapter:
    """The guarded transport of this process, made on first use."""
    return GuardedAdapter(pool_connections=POOLED_DESTINATIONS)


# A forked child (a prefork worker's pool process) must not share its parent's sockets.
os.register_at_fork(after_in_child=_process_adapter.cache_clear)


def session() -> requests.Session:
    """A requests session whose every request (and redirect) is guarded. Its headers and
    cookies are its own; its connections are the process's, reused between sessions."""
    guarded = requests.Session()
    guarded.trust_env = False  # no proxy, .netrc or CA variable read per request
    adapter = _process_adapter()
    guarded.mount("http://", adapter)
    guarded.mount("https://", adapter)
    return guarded
