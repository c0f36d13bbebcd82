"""The destination guard: blocked addresses are refused when a consumer is saved and on
every request its builder makes, including redirects and names resolving to them."""

from __future__ import annotations

import contextlib
import datetime
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from consumers import deliveries, services
from consumers.builders import destinations
from consumers.builders.base import DeliveryError
from consumers.builders.destinations import BlockedDestination, blocking_network, check_url
from consumers.builders.tool_http import ToolClient
from consumers.models import Delivery
from resourcemanager.core.errors import InvalidInput
from resourcemanager.identity.roles import SYSTEM
from tests.consumers.conftest import SECRET, TEAM_A, WebhookServer, add_webhook, create_resource
from tests.consumers.test_webhook import pending_delivery
from tests.support.toolserver import ToolServer

#: One literal form per blocked range, the tricky spellings of loopback among them.
BLOCKED_URLS = {
    "http://127.0.0.1:8080/hook": "127.0.0.0/8",
    "http://127.1.2.3/": "127.0.0.0/8",
    "http://[::1]/": "::1/128",
    "http://169.254.169.254/latest/meta-data/": "169.254.0.0/16",
    "http://[fe80::1]/": "fe80::/10",
    "http://0.0.0.0/": "0.0.0.0/8",
    "http://[::]/": "::/128",
    "http://[::ffff:127.0.0.1]/": "127.0.0.0/8",
    "http://[::ffff:169.254.169.254]/": "169.254.0.0/16",
    "http://2130706433/": "127.0.0.0/8",
    "http://0177.0.0.1/": "127.0.0.0/8",
    "http://0x7f.1/": "127.0.0.0/8",
    # Cloud metadata services outside link-local.
    "http://100.100.100.200/latest/meta-data/": "100.100.100.200/32",
    "http://[fd00:ec2::254]/latest/meta-data/": "fd00:ec2::254/128",
    # IPv6 forms carrying a blocked IPv4 address: NAT64 (well-known, and local-use with
    # a /96 and a /48 prefix), 6to4, IPv4-compatible, Teredo (client 127.0.0.1).
    "http://[64:ff9b::a9fe:a9fe]/": "169.254.0.0/16",
    "http://[64:ff9b:1::7f00:1]/": "127.0.0.0/8",
    "http://[64:ff9b:1:7f00:0:100::]/": "127.0.0.0/8",
    "http://[2002:a9fe:a9fe::1]/": "169.254.0.0/16",
    "http://[::127.0.0.1]/": "127.0.0.0/8",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/": "127.0.0.0/8",
}


@pytest.fixture
def guarded(settings) -> None:
    """The production defaults: the test settings' loopback allowance removed."""
    settings.RM_CONSUMER_ALLOWED_NETWORKS = []


def fake_resolver(*addresses: str) -> destinations.Resolver:
    return lambda host, port: list(addresses)


# -- the check itself, without network ------------------------------------------------------


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1::1", "10.1.2.3",
                                     "172.16.0.1", "192.168.1.1", "::ffff:93.184.216.34",
                                     "64:ff9b::5db8:d822", "64:ff9b:1::5db8:d822",
                                     "2002:5db8:d822::1"])
def test_public_and_private_addresses_pass(guarded, address: str) -> None:
    assert blocking_network(address) is None
    assert destinations.checked_addresses("tool.example.com", 443,
                                          fake_resolver(address)) == [address]


def test_any_blocked_address_of_a_name_refuses_the_request(guarded) -> None:
    resolver = fake_resolver("93.184.216.34", "169.254.169.254")

    with pytest.raises(BlockedDestination) as refused:
        destinations.checked_addresses("tool.example.com", 443, resolver)

    assert not refused.value.transient
    assert refused.value.message == (
        "tool.example.com is not an allowed destination: its address is in the blocked "
        "network 169.254.0.0/16 (RM_CONSUMER_BLOCKED_NETWORKS); an operator may allow it "
        "with RM_CONSUMER_ALLOWED_NETWORKS"
    )


def test_saving_refuses_a_name_only_when_all_its_addresses_are_blocked(guarded) -> None:
    check_url("https://tool.example.com/", fake_resolver("93.184.216.34", "127.0.0.1"))
    check_url("https://not-yet.example.com/", fake_resolver())

    with pytest.raises(BlockedDestination):
        check_url("https://tool.example.com/", fake_resolver("127.0.0.1", "::1"))


def test_the_networks_come_from_the_settings(settings) -> None:
    settings.RM_CONSUMER_BLOCKED_NETWORKS = ["10.0.0.0/8", "192.168.0.0/16"]
    settings.RM_CONSUMER_ALLOWED_NETWORKS = ["10.9.0.0/16"]

    assert blocking_network("10.1.2.3") == "10.0.0.0/8"
    assert blocking_network("::ffff:192.168.1.1") == "192.168.0.0/16"
    assert blocking_network("10.9.8.7") is None
    assert blocking_network("127.0.0.1") is None  # no longer in the list


# -- when a consumer is saved ---------------------------------------------------------------


@pytest.mark.parametrize(("url", "network"), BLOCKED_URLS.items())
def test_the_service_refuses_blocked_literal_addresses(guarded, url: str, network: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        services.validate_consumer(SYSTEM, "team-a", builder="webhook", name="hook",
                                   properties={"url": url, "secret": SECRET})

    assert refused.value.code == "invalid_properties"
    assert network in str(refused.value)


@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://[::ffff:127.0.0.1]:5432/"])
def test_the_api_refuses_blocked_urls_on_create_and_update(guarded, owner, url: str) -> None:
    response = owner.post(f"{TEAM_A}/consumers", {
        "builder": "sqlpad", "name": "pad", "properties": {"url": url, "api_token": "t"},
    }, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_properties"
    assert "blocked network" in response.json()["message"]

    created = owner.post(f"{TEAM_A}/consumers", {
        "builder": "webhook", "name": "hook", "enabled": False,
        "properties": {"url": "http://10.0.0.5/hook", "secret": SECRET},
    }, format="json")
    assert created.status_code == 201, created.json()
    changed = owner.patch(f"{TEAM_A}/consumers/{created.json()['id']}",
                          {"properties": {"url": url}}, format="json")
    assert changed.status_code == 400
    assert changed.json()["code"] == "invalid_properties"


def test_an_allowed_network_overrides_the_blocks(settings) -> None:
    settings.RM_CONSUMER_ALLOWED_NETWORKS = ["127.0.0.1/32"]

    services.validate_consumer(SYSTEM, "team-a", builder="webhook", name="hook",
                               properties={"url": "http://127.0.0.1:3000/", "secret": SECRET})
    with pytest.raises(InvalidInput):
        services.validate_consumer(SYSTEM, "team-a", builder="webhook", name="hook",
                                   properties={"url": "http://127.0.0.2:3000/", "secret": SECRET})


# -- on every request -----------------------------------------------------------------------


def test_a_name_resolving_to_loopback_fails_the_delivery_for_good(
    owner, pg_provider, webhook_server: WebhookServer, settings
) -> None:
    webhook_server.host = "localhost"
    delivery = pending_delivery(owner, webhook_server)  # saved while loopback was allowed
    settings.RM_CONSUMER_ALLOWED_NETWORKS = []

    # Refused for good: no RetryDelivery.
    deliveries.deliver(delivery.pk, in_process=False, backoff=lambda attempt: 30)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.last_error.startswith("localhost is not an allowed destination: its "
                                          "address is in the blocked network ")
    assert webhook_server.requests == []


def test_an_allowed_network_lets_the_delivery_through(
    owner, pg_provider, webhook_server: WebhookServer, settings
) -> None:
    settings.RM_CONSUMER_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    add_webhook(owner, webhook_server)

    create_resource(owner)

    assert webhook_server.events() == ["resource.created"]
    assert Delivery.objects.get().status == "delivered"


@pytest.fixture
def tool(settings) -> Iterator[ToolServer]:
    """A tool on 127.0.0.1, the only loopback address allowed."""
    settings.RM_CONSUMER_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    with ToolServer() as server:
        yield server


def client_of(url: str) -> ToolClient:
    return ToolClient("Tool", url, verify=True, timeout=5, secrets=[])


def test_redirects_are_checked_again(tool: ToolServer) -> None:
    port = tool.url.rsplit(":", 1)[1]
    tool.route("GET", "/api/here")(lambda seen: (302, None, {"Location": "/api/ok"}))
    tool.route("GET", "/api/ok")(lambda seen: (200, {"ok": True}, {}))
    tool.route("GET", "/api/away")(
        lambda seen: (302, None, {"Location": f"http://127.0.0.2:{port}/api/ok"}))

    assert client_of(tool.url).request("GET", "api/here") == {"ok": True}
    with pytest.raises(DeliveryError) as refused:
        client_of(tool.url).request("GET", "api/away")

    assert not refused.value.transient
    assert "127.0.0.2 is not an allowed destination" in refused.value.message
    assert tool.lines() == ["GET /api/here", "GET /api/ok", "GET /api/away"]


def test_the_connection_goes_to_the_address_that_was_checked(
    tool: ToolServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name answering an allowed address, then another one (DNS rebinding), is reached
    at the first: it is resolved once per connection, and the Host header keeps it."""
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "127.0.0.2"])

    def rebinding(host: str, *args, **kwargs):
        return real(next(answers) if host == "tool.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    tool.route("GET", "/api/ok")(lambda seen: (200, {"ok": True}, {}))
    port = tool.url.rsplit(":", 1)[1]

    assert client_of(f"http://tool.test:{port}").request("GET", "api/ok") == {"ok": True}
    assert tool.seen[0].headers["Host"] == f"tool.test:{port}"


def resolving(monkeypatch: pytest.MonkeyPatch, name: str, address: str) -> list[str]:
    """Make ``name`` resolve to ``address``; returns the names looked up, in order."""
    real = socket.getaddrinfo
    looked_up: list[str] = []

    def fake(host: str, *args, **kwargs):
        looked_up.append(host)
        return real(address if host == name else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return looked_up


def test_a_name_is_resolved_once_per_request(tool: ToolServer, monkeypatch) -> None:
    looked_up = resolving(monkeypatch, "tool.test", "127.0.0.1")
    tool.route("GET", "/api/ok")(lambda seen: (200, {"ok": True}, {}))
    port = tool.url.rsplit(":", 1)[1]

    assert client_of(f"http://tool.test:{port}").request("GET", "api/ok") == {"ok": True}
    assert looked_up.count("tool.test") == 1  # the connection goes to the address


# -- connections kept between requests ----------------------------------------------------


class KeepAliveTool:
    """An HTTP/1.1 server keeping connections open; notes each request's connection (the
    client's port), path and headers. Its connections are cut when it closes."""

    def __init__(self) -> None:
        self.requests: list[tuple[int, str, dict[str, str]]] = []
        self.connections: list[socket.socket] = []
        tool = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                tool.requests.append((self.client_address[1], self.path, dict(self.headers)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "11")
                self.end_headers()
                self.wfile.write(b'{"ok":true}')

            def log_message(self, format: str, *args) -> None:
                """Quiet."""

        class Server(ThreadingHTTPServer):
            def process_request(self, request, client_address) -> None:
                tool.connections.append(request)
                super().process_request(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for connection in self.connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def keep_alive_tool(settings) -> Iterator[KeepAliveTool]:
    settings.RM_CONSUMER_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    server = KeepAliveTool()
    try:
        yield server
    finally:
        server.close()


def test_sessions_of_a_process_reuse_its_connections(keep_alive_tool: KeepAliveTool) -> None:
    url = f"http://127.0.0.1:{keep_alive_tool.port}"

    for _ in range(3):  # one session (one ToolClient) per delivery
        assert client_of(url).request("GET", "api/ok") == {"ok": True}

    assert len({port for port, _, _ in keep_alive_tool.requests}) == 1
    assert len(keep_alive_tool.requests) == 3


def test_a_kept_connection_is_not_used_once_the_name_resolves_to_a_blocked_address(
    keep_alive_tool: KeepAliveTool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding across requests: every request resolves and checks again, so an open
    connection to the address checked before does not let a now-blocked name through."""
    real = socket.getaddrinfo
    answer = ["127.0.0.1"]
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *args, **kwargs: real(
        answer[0] if host == "tool.test" else host, *args, **kwargs))
    url = f"http://tool.test:{keep_alive_tool.port}"
    assert client_of(url).request("GET", "api/ok") == {"ok": True}

    answer[0] = "127.0.0.2"  # outside the allowed 127.0.0.1/32: blocked
    with pytest.raises(DeliveryError) as refused:
        client_of(url).request("GET", "api/ok")

    assert "tool.test is not an allowed destination" in refused.value.message
    assert not refused.value.transient
    assert len(keep_alive_tool.requests) == 1


def test_the_environment_is_not_read_per_request(
    keep_alive_tool: KeepAliveTool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Neither a proxy nor a .netrc entry set in the environment reaches a tool."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login operator password operator-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there

    assert client_of(f"http://127.0.0.1:{keep_alive_tool.port}").request(
        "GET", "api/ok") == {"ok": True}
    assert "Authorization" not in keep_alive_tool.requests[0][2]


# -- TLS to the pinned address: SNI and the certificate are the host name's ----------------


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for ``name`` (its own CA) and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return cert_file, key_file


class TlsTool:
    """An HTTPS server on 127.0.0.1 answering ``{"ok": true}``, recording the SNI names
    and Host headers it was sent."""

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.server_names: list[str | None] = []
        self.hosts: list[str] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        context.sni_callback = lambda sock, name, ctx: self.server_names.append(name)
        tool = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                tool.hosts.append(self.headers["Host"])
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "11")
                self.end_headers()
                self.wfile.write(b'{"ok":true}')

            def log_message(self, format: str, *args) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tls_tool(settings, tmp_path: Path, monkeypatch) -> Iterator[tuple[TlsTool, Path]]:
    """A TLS tool with a certificate for tool.test, which resolves to 127.0.0.1."""
    settings.RM_CONSUMER_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    resolving(monkeypatch, "tool.test", "127.0.0.1")
    cert_file, key_file = self_signed(tmp_path, "tool.test")
    server = TlsTool(cert_file, key_file)
    try:
        yield server, cert_file
    finally:
        server.close()


def test_tls_to_the_pinned_address_sends_and_verifies_the_host_name(tls_tool, settings
                                                                     ) -> None:
    server, ca_file = tls_tool
    settings.RM_CONSUMER_CA_BUNDLE = str(ca_file)  # as an operator trusts a CA
    client = client_of(f"https://tool.test:{server.port}")

    assert client.request("GET", "api/ok") == {"ok": True}
    assert server.server_names == ["tool.test"]
    assert server.hosts == [f"tool.test:{server.port}"]


def test_a_certificate_for_another_name_is_refused(tls_tool, tmp_path: Path, settings
                                                   ) -> None:
    """The tool's certificate is for tool.test; trusting only other.test's, it fails."""
    server, _ = tls_tool
    other_ca, _ = self_signed(tmp_path, "other.test")
    settings.RM_CONSUMER_CA_BUNDLE = str(other_ca)
    client = client_of(f"https://tool.test:{server.port}")

    with pytest.raises(DeliveryError) as refused:
        client.request("GET", "api/ok")

    assert "TLS verification failed" in refused.value.message
    assert server.hosts == []


# -- bounded timeouts ------------------------------------------------------------------------


@pytest.fixture
def silent_server() -> Iterator[WebhookServer]:
    """Accepts connections and reads nothing, answers nothing."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield WebhookServer("127.0.0.1", listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()


def test_a_webhook_that_never_answers_fails_the_attempt_within_the_read_timeout(
    owner, pg_provider, silent_server: WebhookServer, settings
) -> None:
    settings.RM_CONSUMER_READ_TIMEOUT = 1  # the webhook's own timeout is 10 s by default
    delivery = pending_delivery(owner, silent_server)

    started = time.monotonic()
    deliveries.deliver(delivery.pk, in_process=True, backoff=lambda attempt: 30)

    assert time.monotonic() - started < 5
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.last_error == "the webhook at 127.0.0.1 did not answer in time"


def test_a_tool_that_never_answers_fails_within_the_read_timeout(
    silent_server: WebhookServer, settings
) -> None:
    settings.RM_CONSUMER_READ_TIMEOUT = 1
    client = ToolClient("Tool", f"http://127.0.0.1:{silent_server.port}", verify=True,
                        timeout=8, secrets=[])

    started = time.monotonic()
    with pytest.raises(DeliveryError) as failed:
        client.request("GET", "api/ok")

    assert time.monotonic() - started < 4
    assert failed.value.transient
