"""Sending JSON lines to a SIEM: syslog over UDP or TCP, or an HTTP POST.

Plain values in, an exception out: this module reads nothing of the app.

- ``syslog://host:port`` (UDP, one datagram per line) and ``syslog+tcp://host:port``
  (TCP, octet-counted frames, RFC 6587): RFC 5424 messages, facility *log audit* (13),
  severity *informational*, app name ``resourcemanager``, the line as the message.
  Syslog has no acknowledgement: a batch counts as accepted once sent (over UDP a
  receiver that is down loses it; over TCP a refused or broken connection fails it).
- ``http://…`` and ``https://…``: the batch as one ``application/x-ndjson`` POST; any
  2xx answer accepts it. A token, if given, goes as ``Authorization: Bearer``.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests

SCHEMES = ("syslog", "syslog+tcp", "http", "https")
_PRI = 13 * 8 + 6  # facility log audit, severity informational


class SinkError(Exception):
    """The receiver did not accept the batch (unreachable, refused, answered non-2xx)."""


def check(url: str) -> None:
    """Raise ValueError naming what is wrong with a sink URL."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(f"the scheme must be one of {', '.join(SCHEMES)}")
    if not parts.hostname:
        raise ValueError("no host")
    if parts.scheme.startswith("syslog") and not parts.port:
        raise ValueError("a syslog sink needs a port (syslog://host:514)")


def name(url: str) -> str:
    """The sink as shown and as its cursor is keyed: the URL without user, password,
    query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def send(url: str, lines: list[str], *, timeout: float, token: str = "") -> None:
    parts = urlsplit(url)
    try:
        if parts.scheme in ("http", "https"):
            _post(url, lines, timeout, token)
        else:
            messages = [_syslog(text) for text in lines]
            address = (parts.hostname, parts.port)
            if parts.scheme == "syslog":
                _udp(address, messages, timeout)
            else:
                _tcp(address, messages, timeout)
    except requests.RequestException as exc:
        # Its text may repeat the URL, whose path or query may hold a token.
        raise SinkError(f"{type(exc).__name__} sending to {name(url)}") from exc
    except OSError as exc:
        raise SinkError(f"{exc.strerror or type(exc).__name__} sending to {name(url)}") from exc


def _post(url: str, lines: list[str], timeout: float, token: str) -> None:
    headers = {"Content-Type": "application/x-ndjson"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    body = "".join(f"{text}\n" for text in lines).encode()
    response = requests.post(url, data=body, headers=headers, timeout=timeout,
                             allow_redirects=False)
    if not 200 <= response.status_code < 300:
        raise SinkError(f"the receiver answered {response.status_code}")


def _syslog(text: str) -> bytes:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    host = socket.gethostname() or "-"
    return f"<{_PRI}>1 {stamp} {host} resourcemanager - audit - {text}".encode()


def _udp(address: tuple[str | None, int | None], messages: list[bytes], timeout: float) -> None:
    with socket.socket(_family(address), socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        for message in messages:
            sock.send(message)


def _tcp(address: tuple[str | None, int | None], messages: list[bytes], timeout: float) -> None:
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(b"".join(b"%d %s" % (len(message), message) for message in messages))


def _family(address: tuple[str | None, int | None]) -> socket.AddressFamily:
    return socket.getaddrinfo(address[0], address[1], type=socket.SOCK_DGRAM)[0][0]
