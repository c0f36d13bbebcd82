"""A local HTTP server standing in for a tool (SQLPad, Metabase, …) in builder tests.

Routes answer like the tool's REST API; every request is recorded, so tests can assert
paths, methods, headers and payloads. ``outage`` makes every request fail with a status.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

#: A route's answer: status, JSON body (None: empty; bytes: sent as HTML), extra headers.
Answer = tuple[int, Any, dict[str, str]]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    cookies: dict[str, str] = field(default_factory=dict)

    @property
    def line(self) -> str:
        return f"{self.method} {self.path}"


class ToolServer:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.routes: list[tuple[str, re.Pattern[str], Callable[..., Answer]]] = []
        #: When set, (status, body) every request is answered with.
        self.outage: tuple[int, Any] | None = None
        self._server: ThreadingHTTPServer | None = None

    def route(self, method: str, pattern: str) -> Callable[[Callable[..., Answer]],
                                                           Callable[..., Answer]]:
        def register(handler: Callable[..., Answer]) -> Callable[..., Answer]:
            self.routes.append((method, re.compile(pattern), handler))
            return handler
        return register

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def lines(self) -> list[str]:
        return [seen.line for seen in self.seen]

    def answer(self, seen: Seen) -> Answer:
        self.seen.append(seen)
        if self.outage is not None:
            return (*self.outage, {})
        for method, pattern, handler in self.routes:
            if method == seen.method and (match := pattern.fullmatch(seen.path)):
                return handler(seen, *match.groups())
        return 404, {"message": "no such route"}, {}

    def __enter__(self) -> ToolServer:
        tool = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                cookies = dict(
                    pair.strip().split("=", 1)
                    for pair in (self.headers.get("Cookie") or "").split(";") if "=" in pair
                )
                seen = Seen(self.command, parts.path, dict(parse_qsl(parts.query)),
                            dict(self.headers.items()), json.loads(raw) if raw else None,
                            cookies)
                status, body, headers = tool.answer(seen)
                if isinstance(body, bytes):  # not JSON: e.g. an HTML page
                    data, kind = body, "text/html"
                else:
                    kind = "application/json"
                    data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if data:
                    self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
