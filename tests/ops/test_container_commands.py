"""Process smoke test of the image's command words, outside a container.

``scripts/container-entrypoint`` itself runs as a subprocess, as the image runs it:
``web`` (gunicorn, migrations on start, static files through WhiteNoise after
``manage collectstatic``), ``worker`` and ``beat`` over Redis, their health commands, and a
clean exit on SIGTERM. The environment is built from scratch (no variable of the test run
leaks in) with ``config.settings``, DEBUG off, real secrets and a throwaway PostgreSQL
database.
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet
from psycopg import sql

from tests.conftest import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER, pg_admin_connect
from tests.support.workers import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = str(ROOT / "scripts" / "container-entrypoint")
#: The only name the web server accepts: probes must say it (web-alive does).
HOST = "rm.smoke.test"
START_TIMEOUT = 60
STOP_TIMEOUT = 30


@dataclass
class Process:
    """An entrypoint subprocess whose combined output goes to a file."""

    popen: subprocess.Popen
    log_path: Path

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.popen.poll() is None, f"exited before {text!r}:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {text!r} in time:\n{self.output()}"
            time.sleep(0.2)

    def terminate(self) -> int:
        """SIGTERM, as a container runtime stops it; the exit status."""
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=5)
            raise AssertionError(f"still running {STOP_TIMEOUT}s after SIGTERM:\n"
                                 f"{self.output()}") from None


def start(env: dict[str, str], log_path: Path, *args: str) -> Process:
    with log_path.open("wb") as log:
        popen = subprocess.Popen([ENTRYPOINT, *args], env=env, stdout=log,
                                 stderr=subprocess.STDOUT, cwd=log_path.parent)
    return Process(popen, log_path)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ENTRYPOINT, *args], env=env, capture_output=True, text=True,
                          timeout=120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """DATABASE_URL of a fresh PostgreSQL database, dropped afterwards."""
    name = f"rm_deploy_smoke_{secrets.token_hex(4)}"
    with pg_admin_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"postgres://{PG_USER}:{PG_PASSWORD}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with pg_admin_connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


@pytest.fixture(scope="module")
def broker() -> Iterator[None]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    try:
        yield
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="module")
def app_env(database, broker, tmp_path_factory) -> dict[str, str]:
    """The environment of a production container, with the virtualenv first on PATH."""
    tmp = tmp_path_factory.mktemp("container")
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "RM_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": database,
        "REDIS_URL": REDIS_URL,
        "ALLOWED_HOSTS": HOST,
        "STATIC_ROOT": str(tmp / "static"),
        "RM_DATA_DIR": str(tmp / "data"),
        "CELERY_WORKER_CONCURRENCY": "1",
    }
    collected = run(env, "manage", "collectstatic", "--noinput")
    assert collected.returncode == 0, collected.stderr
    return env


def get(url: str, host: str | None = HOST) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body; ``host=None`` sends urllib's own Host (the address)."""
    request = urllib.request.Request(url, headers={"Host": host} if host else {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@dataclass
class Web:
    process: Process
    url: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def web(app_env, tmp_path_factory) -> Iterator[Web]:
    """``web`` with RM_MIGRATE_ON_START on the fresh database, answering /healthz."""
    port = free_port()
    env = {**app_env, "RM_MIGRATE_ON_START": "true", "GUNICORN_BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": "2", "LOG_FORMAT": "json"}
    process = start(env, tmp_path_factory.mktemp("web") / "web.log", "web")
    server = Web(process, f"http://127.0.0.1:{port}", env)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.popen.poll() is None, f"web exited:\n{process.output()}"
            try:
                if get(f"{server.url}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"web not up in time:\n{process.output()}"
            time.sleep(0.3)
        yield server
    finally:
        if process.popen.poll() is None:
            process.popen.kill()
            process.popen.wait(timeout=10)


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stylesheets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "link" and found.get("rel") == "stylesheet" and found.get("href"):
            self.stylesheets.append(found["href"])


def test_web_migrates_on_start_and_is_live_and_ready(web):
    status, _, body = get(f"{web.url}/readyz")

    assert "Applying resourcemanager.0001_initial... OK" in web.process.output()
    assert get(f"{web.url}/healthz")[0] == 200
    assert status == 200, body
    assert b'"database": {"ok": true' in body and b'"broker": {"ok": true' in body


def test_web_serves_the_admin_and_its_static_files(web):
    status, _, page = get(f"{web.url}/admin/login/")
    links = _Links()
    links.feed(page.decode())
    static = [href for href in links.stylesheets if href.startswith("/static/")]

    assert status == 200
    assert static, page[:2000]
    status, headers, body = get(f"{web.url}{static[0]}")
    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    assert body


def test_web_serves_the_api_docs_with_their_own_assets(web):
    status, _, page = get(f"{web.url}/api/docs/")
    assets = re.findall(r'(?:src|href)="(/static/drf_spectacular_sidecar/[^"]+)"', page.decode())

    assert status == 200
    assert any(url.endswith(".js") for url in assets), page[:2000]
    for url in assets:
        status, _, body = get(f"{web.url}{url}")
        assert status == 200, url
        assert body


def test_web_writes_one_json_access_line_per_request(web):
    status, headers, _ = get(f"{web.url}/api/providers?token=not-logged")
    request_id = headers["X-Request-ID"]

    deadline = time.monotonic() + 10
    while not (lines := [entry for entry in map(json.loads, (
            line for line in web.process.output().splitlines() if line.startswith("{")))
            if entry.get("request_id") == request_id
            and entry["logger"] == "resourcemanager.access"]):
        assert time.monotonic() < deadline, web.process.output()
        time.sleep(0.1)
    assert len(lines) == 1
    assert lines[0]["status"] == status == 401
    assert lines[0]["path"] == "/api/providers"
    assert "not-logged" not in web.process.output()


def test_web_alive_asks_as_the_allowed_host(web):
    assert get(f"{web.url}/healthz")[0] == 200
    assert get(f"{web.url}/healthz", host=None)[0] == 200  # probes by pod IP are answered
    assert get(f"{web.url}/admin/login/", host=None)[0] == 400

    result = run(web.env, "web-alive")

    assert result.returncode == 0, result.stderr


def test_bootstrap_and_manage_words(web):
    env = {**web.env, "RM_ADMIN_USERNAME": "smoke-operator",
           "RM_ADMIN_PASSWORD": secrets.token_urlsafe(16)}

    # Side by side: the database is migrated already (by web), so none waits for another.
    with ThreadPoolExecutor() as pool:
        bootstrap, migrate, check = pool.map(
            lambda words: run(env, *words), [("bootstrap",), ("migrate",), ("manage", "check")]
        )

    assert bootstrap.returncode == 0, bootstrap.stderr
    assert "operator 'smoke-operator' created with RM_ADMIN_PASSWORD" in bootstrap.stdout
    assert migrate.returncode == 0 and "No migrations to apply." in migrate.stdout
    assert check.returncode == 0, check.stderr


def test_any_other_word_runs_as_given_in_the_app_directory(app_env):
    result = run(app_env, "python", "-c", "import os, sys; print(os.getcwd()); print(sys.path)")

    assert result.returncode == 0, result.stderr
    cwd, path = result.stdout.splitlines()
    assert cwd == str(ROOT)
    assert repr(str(ROOT)) in path


def test_an_empty_metrics_directory_turns_multiprocess_mode_off(app_env, tmp_path):
    """prometheus_client turns the mode on when the variable is present at all: set to ""
    it would write its files into the working directory, the image's read-only /app."""
    port = free_port()
    env = {**app_env, "PROMETHEUS_MULTIPROC_DIR": "", "GUNICORN_BIND": f"127.0.0.1:{port}",
           "WEB_CONCURRENCY": "1"}
    server = start(env, tmp_path / "web.log", "web")
    try:
        server.wait_for("Booting worker")
        environment = Path(f"/proc/{server.popen.pid}/environ").read_bytes().split(b"\0")
        assert server.terminate() == 0
    finally:
        if server.popen.poll() is None:
            server.popen.kill()
    assert not any(each.startswith(b"PROMETHEUS_MULTIPROC_DIR=") for each in environment)
    assert not list(ROOT.glob("*.db"))


def test_web_stops_cleanly_on_sigterm(web):
    # Last of the web tests (pytest keeps the file's order).
    assert web.process.terminate() == 0
    assert "Shutting down: Master" in web.process.output()


@pytest.mark.worker
def test_worker_starts_answers_its_health_check_and_stops_on_sigterm(app_env, web, tmp_path):
    worker = start(app_env, tmp_path / "worker.log", "worker")
    try:
        worker.wait_for(" ready.")
        alive = run(app_env, "worker-alive")

        assert alive.returncode == 0, alive.stdout + alive.stderr
        assert "pong" in alive.stdout
        assert worker.terminate() == 0
    finally:
        if worker.popen.poll() is None:
            worker.popen.kill()
    assert "Warm shutdown" in worker.output()


@pytest.mark.worker
def test_beat_starts_keeps_its_schedule_fresh_and_stops_on_sigterm(app_env, web, tmp_path):
    env = {**app_env, "CELERY_BEAT_SCHEDULE_FILE": str(tmp_path / "beat" / "schedule"),
           "RM_OUTBOX_RELAY_INTERVAL": "1"}
    (tmp_path / "beat").mkdir()
    stale = run({**env, "CELERY_BEAT_SCHEDULE_FILE": str(tmp_path / "none")}, "beat-alive")
    beat = start(env, tmp_path / "beat.log", "beat")
    try:
        beat.wait_for("beat: Starting...")
        beat.wait_for("Sending due task relay-outbox")
        alive = run(env, "beat-alive")
        too_old = run({**env, "RM_BEAT_MAX_AGE": "0"}, "beat-alive")

        assert beat.terminate() == 0
    finally:
        if beat.popen.poll() is None:
            beat.popen.kill()
    assert stale.returncode != 0
    assert alive.returncode == 0, alive.stderr
    assert too_old.returncode != 0
    assert list((tmp_path / "beat").iterdir())
