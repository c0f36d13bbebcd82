"""A real local HTTP endpoint for webhook consumers, and helpers to set the scene."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from consumers.models import Consumer, Delivery
from tests.support.fast_commits import rolled_back_api_db  # noqa: F401 (fixture api_db)

TEAM_A = "/api/c/team-a"
SECRET = "whsec-canary-7f3a9c"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookServer:
    """Records every POST; answers with the queued statuses, then 200."""

    host: str
    port: int
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    def events(self) -> list[str]:
        return [r.json()["event"] for r in self.requests]


@pytest.fixture
def webhook_server() -> Iterator[WebhookServer]:
    server_state = WebhookServer("127.0.0.1", 0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            server_state.requests.append(Received(self.path, dict(self.headers), body))
            status = server_state.statuses.pop(0) if server_state.statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args) -> None:
            """Quiet."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.port = httpd.server_address[1]
    # Polled every 50 ms (not 500): shutdown() waits for the next poll.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        httpd.shutdown()
        httpd.server_close()


def add_consumer(client: APIClient, scope: str = "team-a", **body) -> dict:
    response = client.post(f"/api/c/{scope}/consumers", body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def add_webhook(client: APIClient, server: WebhookServer, scope: str = "team-a", *,
                name: str = "hook", include_credentials: bool = False, **body) -> dict:
    return add_consumer(client, scope, builder="webhook", name=name, properties={
        "url": server.url, "secret": SECRET, "include_credentials": include_credentials,
    }, **body)


def create_resource(client: APIClient, name: str = "orders", scope: str = "team-a",
                    **body) -> dict:
    response = client.post(f"/api/c/{scope}/resources",
                           {"provider": "pg", "name": name, **body}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "ready", response.json()
    return response.json()


@pytest.fixture
def owner(make_client) -> APIClient:
    """ADMIN of team-a and team-b: manages resources and consumers in both."""
    return make_client(team_a="ADMIN", team_b="ADMIN")


def pending_delivery(owner: APIClient, server: WebhookServer) -> Delivery:
    """A delivery not yet attempted, of a real resource to a webhook on ``server``."""
    consumer = add_webhook(owner, server, enabled=False)
    resource = create_resource(owner)
    Consumer.objects.filter(pk=consumer["id"]).update(enabled=True)
    return Delivery.objects.create(
        consumer_id=consumer["id"], event="resource.created", resource_id=resource["id"],
        resource={"id": resource["id"], "name": "orders", "type": "sql"},
        provider_class="postgresql", occurred_at=timezone.now(),
    )


def in_30s(attempt: int) -> float:
    """A retry backoff: always 30 seconds."""
    return 30
