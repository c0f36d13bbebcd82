"""A real SQLPad, installed from npm, for the live builder tests.

``SQLPAD_VERSION`` is installed once per machine into a cache directory outside the
repository (``$RM_TEST_TOOL_CACHE``, default ``~/.cache/resourcemanager-tests``; a lock
keeps parallel test processes from installing it twice), then started per test session on
a free port of 127.0.0.1 with its data in a temporary directory. Its admin signs up
through the API, as the first user of a fresh SQLPad becomes the admin: 3.1.0's
``SQLPAD_ADMIN_PASSWORD`` stores an unresolved promise as the hash, so no sign-in works
with it. Without node or npm, or with the npm registry unreachable, the tests skip and
say so; any other failure of the installation fails them.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.processes import stop

#: The release npm serves (later ones are published as container images only).
SQLPAD_VERSION = "3.1.0"
_UNREACHABLE = re.compile(r"ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNREFUSED|ECONNRESET|"
                          r"network|proxy|getaddrinfo", re.I)


@dataclass(frozen=True)
class SQLPad:
    url: str
    email: str
    password: str


def _cache() -> Path:
    root = os.environ.get("RM_TEST_TOOL_CACHE") or Path.home() / ".cache/resourcemanager-tests"
    return Path(root) / f"sqlpad-{SQLPAD_VERSION}"


def _installed(prefix: Path) -> Path:
    """The server script of SQLPad installed under ``prefix``, installing it if needed."""
    server = prefix / "node_modules/sqlpad/server.js"
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run SQLPad (apt-get install nodejs npm)")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{prefix}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if server.exists():
            return server
        staging = Path(tempfile.mkdtemp(dir=prefix.parent, prefix=f".{prefix.name}-"))
        try:
            done = subprocess.run(
                ["npm", "install", "--prefix", str(staging), "--no-audit", "--no-fund",
                 "--omit=dev", "--loglevel=error", f"sqlpad@{SQLPAD_VERSION}"],
                capture_output=True, text=True, timeout=600, check=False)
            if done.returncode != 0:
                if _UNREACHABLE.search(done.stderr):
                    pytest.skip(f"the npm registry is unreachable: {done.stderr.strip()[-300:]}")
                pytest.fail(f"npm install sqlpad@{SQLPAD_VERSION} failed: {done.stderr[-2000:]}")
            staging.rename(prefix)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, log: Path) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"SQLPad exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            return requests.get(f"{url}/api/app", timeout=2).json()
        except (requests.ConnectionError, ValueError):
            time.sleep(0.2)
    pytest.fail(f"SQLPad did not answer within 60 s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def sqlpad() -> Iterator[SQLPad]:
    """A running SQLPad ``SQLPAD_VERSION`` with an admin account."""
    server = _installed(_cache())
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="rm-sqlpad-") as data:
        log = Path(data) / "sqlpad.log"
        env = {**os.environ, "SQLPAD_IP": "127.0.0.1", "SQLPAD_PORT": str(port),
               "SQLPAD_DB_PATH": str(Path(data) / "db"),
               "SQLPAD_COOKIE_SECRET": secrets.token_hex(16),
               "SQLPAD_PASSPHRASE": secrets.token_hex(16)}
        with open(log, "w") as out:
            process = subprocess.Popen(["node", str(server)], env=env, stdout=out,
                                       stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            app = _wait_until_up(url, process, log)
            assert app["version"] == SQLPAD_VERSION, app
            account = SQLPad(url, "admin@example.com", "Sq1pad-" + secrets.token_hex(8))
            signup = requests.post(f"{url}/api/signup", timeout=10, json={
                "email": account.email, "password": account.password,
                "passwordConfirmation": account.password})
            assert signup.status_code == 200 and signup.json() == {}, signup.text
            yield account
        finally:
            stop(process)
