"""A consumer whose tool hangs does not hold the worker: its drain goes on in a thread of
the worker process while the process delivers to the others (a real worker over Redis,
one process, so a drain held in the task would hold everything)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from consumers.models import Consumer, Delivery
from tests.ops.test_retries import TEAM_A
from tests.support.workers import OPERATION_TIMEOUT

#: Seconds the slow tool takes to answer (its consumer waits up to 10).
HANG = 6.0


@dataclass
class Hook:
    """A webhook endpoint that answers after ``delay`` seconds; notes when calls came and
    when their answers went."""

    delay: float
    url: str = ""
    received: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)


@pytest.fixture
def hooks() -> Iterator[tuple[Hook, Hook]]:
    slow, fast = Hook(HANG), Hook(0)
    servers = []
    for hook in (slow, fast):
        class Handler(BaseHTTPRequestHandler):
            state = hook

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.state.received.append(time.monotonic())
                time.sleep(self.state.delay)
                self.send_response(204)
                self.end_headers()
                self.state.answered.append(time.monotonic())

            def log_message(self, format: str, *args) -> None:
                """Quiet."""

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        hook.url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
        threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(httpd)
    try:
        yield slow, fast
    finally:
        for httpd in servers:
            httpd.shutdown()
            httpd.server_close()


def add_hook(client, name: str, url: str) -> Consumer:
    response = client.post(f"{TEAM_A}/consumers", {
        "builder": "webhook", "name": name, "properties": {"url": url, "secret": "s" * 24},
    }, format="json")
    assert response.status_code == 201, response.json()
    return Consumer.objects.get(pk=response.json()["id"])


def wait_until(condition, what: str, worker, timeout: float = OPERATION_TIMEOUT) -> float:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"never {what}:\n{worker.output()}")
        time.sleep(0.05)
    return time.monotonic()


@pytest.mark.worker
def test_a_hanging_tool_does_not_hold_the_deliveries_to_the_others(
    make_client, pg_provider, broker, start_worker, hooks
):
    slow, fast = hooks
    worker = start_worker(RM_CONSUMER_DRAIN_WAIT="0.3")
    client = make_client(team_a="ADMIN")
    slow_consumer = add_hook(client, "slow", slow.url)
    created = client.post(f"{TEAM_A}/resources", {"provider": "pg", "name": "orders"},
                          format="json")
    assert created.status_code in (201, 202), created.json()
    wait_until(lambda: slow.received, "called the slow tool", worker)

    # The one worker process is now waiting on the slow tool. A consumer added now gets
    # the resource at once, from the same process.
    added = time.monotonic()
    fast_consumer = add_hook(client, "fast", fast.url)
    reached = wait_until(lambda: fast.answered, "delivered to the fast tool", worker)

    assert reached - added < HANG / 2, f"{reached - added:.1f} s"
    assert not slow.answered  # still waiting on the slow tool meanwhile
    wait_until(lambda: Delivery.objects.filter(consumer=fast_consumer, status="delivered"
                                               ).exists(), "recorded the fast one", worker)
    wait_until(lambda: Delivery.objects.filter(consumer=slow_consumer, status="delivered"
                                               ).exists(), "recorded the slow one", worker)
    assert len(slow.received) == 1  # once: its drain held the consumer meanwhile
