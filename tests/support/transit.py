"""A server speaking the part of Vault's transit secrets engine the ``vault`` KMS backend
uses, with real cryptography: ``POST /v1/<mount>/encrypt/<key>``, ``/decrypt/<key>``,
``/rewrap/<key>`` and ``/keys/<key>/rotate``, behind an ``X-Vault-Token``.

As Vault does, a key is made on its first ``encrypt``; ciphertexts are
``vault:v<version>:<base64 of nonce and AES-256-GCM ciphertext>``; ``rotate`` adds a
version that new ciphertexts use, and older versions still decrypt. Answers and errors
have Vault's shape (``{"data": {...}}``, ``{"errors": [...]}``). No Vault (nor OpenBao)
server can be installed where the suite runs, so this is what the backend is tested
against; what it checks is the wire format, not Vault itself.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PATH = re.compile(r"^/v1/(?P<mount>[\w-]+)/(?:(?P<verb>encrypt|decrypt|rewrap)/(?P<key>[\w-]+)"
                   r"|keys/(?P<rotated>[\w-]+)/rotate)$")
#: The token the server accepts unless told another.
TOKEN = "test-vault-token"
_CIPHERTEXT = re.compile(r"^vault:v(?P<version>\d+):(?P<body>.+)$")


class Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class TransitServer:
    """One mount's keys (name -> versions, oldest first) and the calls it answered."""

    def __init__(self, mount: str, token: str) -> None:
        self.mount, self.token = mount, token
        self.keys: dict[str, list[bytes]] = {}
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.url = ""

    def rotate(self, name: str) -> None:
        with self.lock:
            self.keys[name].append(AESGCM.generate_key(bit_length=256))

    def answer(self, path: str, token: str | None, body: dict) -> dict | None:
        found = _PATH.match(path)
        if token != self.token:
            raise Refused(403, "permission denied")
        if found is None or found["mount"] != self.mount:
            raise Refused(404, f"no handler for route '{path}'")
        if found["rotated"]:
            if found["rotated"] not in self.keys:
                raise Refused(400, "encryption key not found")
            self.rotate(found["rotated"])
            return None
        verb, name = found["verb"], found["key"]
        self.calls.append(verb)
        if verb == "encrypt":
            return {"ciphertext": self._encrypt(name, _b64(body, "plaintext"))}
        plaintext = self._decrypt(name, str(body.get("ciphertext", "")))
        if verb == "decrypt":
            return {"plaintext": base64.b64encode(plaintext).decode()}
        return {"ciphertext": self._encrypt(name, plaintext)}

    def _encrypt(self, name: str, plaintext: bytes) -> str:
        with self.lock:
            versions = self.keys.setdefault(name, [AESGCM.generate_key(bit_length=256)])
            version, key = len(versions), versions[-1]
        nonce = os.urandom(12)
        sealed = nonce + AESGCM(key).encrypt(nonce, plaintext, None)
        return f"vault:v{version}:{base64.b64encode(sealed).decode()}"

    def _decrypt(self, name: str, ciphertext: str) -> bytes:
        found = _CIPHERTEXT.match(ciphertext)
        versions = self.keys.get(name)
        if versions is None:
            raise Refused(400, "encryption key not found")
        if found is None or not 1 <= int(found["version"]) <= len(versions):
            raise Refused(400, "invalid ciphertext: no prefix or unknown version")
        try:
            sealed = base64.b64decode(found["body"], validate=True)
            key = versions[int(found["version"]) - 1]
            return AESGCM(key).decrypt(sealed[:12], sealed[12:], None)
        except (binascii.Error, InvalidTag, ValueError):
            raise Refused(400, "cipher: message authentication failed") from None


def _b64(body: dict, field: str) -> bytes:
    try:
        return base64.b64decode(str(body[field]), validate=True)
    except (KeyError, binascii.Error):
        raise Refused(400, f"missing or invalid {field}") from None


@contextmanager
def transit_server(mount: str = "transit", token: str = TOKEN) -> Iterator[TransitServer]:
    """The server on a free port of 127.0.0.1, for the ``with`` block."""
    state = TransitServer(mount, token)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                data = state.answer(self.path, self.headers.get("X-Vault-Token"), body)
            except Refused as exc:
                self._send(exc.status, {"errors": [str(exc)]})
                return
            except ValueError:
                self._send(400, {"errors": ["failed to parse JSON input"]})
                return
            self._send(204 if data is None else 200, None if data is None else {"data": data})

        def _send(self, status: int, payload: dict | None) -> None:
            raw = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args) -> None:
            """Quiet."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
