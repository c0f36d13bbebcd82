"""The destination guard: blocked addresses are refused when a consumer is saved and on
every request its builder makes, including redirects and names resolving to them."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from consumers import destinations, services
from consumers.base import DeliveryError
from consumers.destinations import BlockedDestination, blocking_network, check_url
from consumers.models import Delivery
from consumers.tool_http import ToolClient
from resourcemanager.access import SYSTEM
from resourcemanager.errors import InvalidInput
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
}


@pytest.fixture
def guarded(settings) -> None:
    """The production defaults: the test settings' loopback allowance removed."""
    settings.RM_CONSUMER_ALLOWED_NETWORKS = []


def fake_resolver(*addresses: str) -> destinations.Resolver:
    return lambda host, port: list(addresses)


# -- the check itself, without network ------------------------------------------------------


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1::1", "10.1.2.3",
                                     "172.16.0.1", "192.168.1.1", "::ffff:93.184.216.34"])
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
        "network 169.254.0.0/16 (RM_CONSUMER_BLOCKED_NETWORKS)"
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

    services.deliver(delivery.pk, in_process=False, backoff=lambda attempt: 30)  # no RetryDelivery

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
