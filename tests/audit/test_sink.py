"""The sink: the trail delivered to a real local receiver, resumed after it was down with
no gap and no duplicate."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from audit import shipping
from audit.models import SinkCursor


class Receiver:
    """An HTTP server taking JSON lines; stopped and started again on the same port."""

    def __init__(self) -> None:
        self.lines: list[dict] = []
        self.headers: list[str] = []
        self.status = 200
        self.server: ThreadingHTTPServer | None = None
        self.port = 0

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.headers.append(self.headers.get("Authorization", ""))
                if receiver.status == 200:
                    receiver.lines += [json.loads(line) for line in body.splitlines()]
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def seqs(self) -> list[int]:
        return [line["seq"] for line in self.lines]


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    server = Receiver()
    server.start()
    settings.RM_AUDIT_SINK = f"http://127.0.0.1:{server.port}/ingest"
    settings.RM_AUDIT_SINK_TOKEN = "sink-token"
    settings.RM_AUDIT_SINK_TIMEOUT = 2
    try:
        yield server
    finally:
        server.stop()


def test_the_trail_reaches_the_receiver_in_order_once(trail, receiver):
    trail(5)

    report = shipping.ship()

    assert (report.sent, report.cursor, report.error) == (5, 5, "")
    assert receiver.seqs() == [1, 2, 3, 4, 5]
    assert receiver.headers == ["Bearer sink-token"]
    assert shipping.ship().sent == 0
    assert receiver.seqs() == [1, 2, 3, 4, 5]


def test_a_receiver_down_then_up_gets_everything_with_no_gap_and_no_duplicate(
        trail, receiver):
    trail(3)
    shipping.ship()
    receiver.stop()
    trail(4)

    down = shipping.ship()

    assert down.error and down.sent == 0
    cursor = SinkCursor.objects.get()
    assert (cursor.seq, cursor.failures) == (3, 1)
    assert cursor.next_attempt_at is not None and cursor.sink == f"http://127.0.0.1:{receiver.port}/ingest"
    assert shipping.ship().skipped == "waiting before the next attempt"
    receiver.start()  # the same port again
    trail(2)

    up = shipping.ship(respect_backoff=False)

    assert (up.sent, up.cursor, up.error) == (6, 9, "")
    assert receiver.seqs() == list(range(1, 10))
    assert SinkCursor.objects.get().failures == 0


def test_a_receiver_refusing_a_batch_gets_it_again(trail, receiver):
    trail(2)
    receiver.status = 503

    refused = shipping.ship()
    receiver.status = 200
    accepted = shipping.ship(respect_backoff=False)

    assert "503" in refused.error
    assert accepted.sent == 2
    assert receiver.seqs() == [1, 2]


def test_syslog_over_udp(trail, settings):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        settings.RM_AUDIT_SINK = f"syslog://127.0.0.1:{sock.getsockname()[1]}"
        trail(3)

        assert shipping.ship().sent == 3
        messages = [sock.recv(65536).decode() for _ in range(3)]

    for seq, message in enumerate(messages, 1):
        assert message.startswith("<110>1 ")
        header, document = message.split(" audit - ", 1)
        assert header.split()[3] == "resourcemanager"
        assert json.loads(document)["seq"] == seq


def test_syslog_over_tcp_in_octet_counted_frames(trail, settings):
    received = bytearray()
    with socket.create_server(("127.0.0.1", 0)) as server:
        settings.RM_AUDIT_SINK = f"syslog+tcp://127.0.0.1:{server.getsockname()[1]}"

        def accept() -> None:
            conn, _ = server.accept()
            with conn:
                while chunk := conn.recv(65536):
                    received.extend(chunk)

        reader = threading.Thread(target=accept)
        reader.start()
        trail(2)
        assert shipping.ship().sent == 2
        reader.join(timeout=5)

    frames, data = [], bytes(received)
    while data:
        length, rest = data.split(b" ", 1)
        frames.append(rest[:int(length)].decode())
        data = rest[int(length):]
    assert [json.loads(frame.split(" audit - ", 1)[1])["seq"] for frame in frames] == [1, 2]


def test_without_a_sink_nothing_is_shipped(trail, settings):
    settings.RM_AUDIT_SINK = ""
    trail(1)
    assert shipping.ship().skipped == "no RM_AUDIT_SINK"
    assert not SinkCursor.objects.exists()


def test_a_token_in_the_sink_url_is_never_stored_or_reported(trail, settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    settings.RM_AUDIT_SINK = f"http://user:pw-secret@127.0.0.1:{port}/ingest?token=q-secret"
    settings.RM_AUDIT_SINK_TIMEOUT = 2
    trail(1)

    report = shipping.ship()

    cursor = SinkCursor.objects.get()
    assert report.error == cursor.last_error
    assert cursor.sink == f"http://127.0.0.1:{port}/ingest"
    for text in (report.error, cursor.last_error, cursor.sink):
        assert "secret" not in text
