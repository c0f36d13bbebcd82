"""The embedded default as the quick start runs it: SQLite, generated development secrets,
tasks in the web process, a real ``runserver`` answering HTTP.

Everything runs in subprocesses with ``config.settings`` (not the test settings) and an
environment stripped of the variables a developer's shell or the test run may have set.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from psycopg import sql

from tests.conftest import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER, pg_admin_connect
from tests.support.leaks import NAME_PREFIX
from tests.support.processes import stop

MANAGE_PY = str(settings.BASE_DIR / "manage.py")
PASSWORD_LINE = re.compile(r"operator 'admin' created; password \(shown once\): (\S+)")
#: Variables that would take the process off the embedded default.
STRIPPED = [
    "DATABASE_URL", "SECRET_KEY", "RM_ENCRYPTION_KEYS", "REDIS_URL", "RM_PROVIDERS",
    "RM_ADMIN_USERNAME", "RM_ADMIN_PASSWORD", "RM_SCOPE_LIST", "RM_DEFAULT_SCOPE",
    "DJANGO_SETTINGS_MODULE", "DEBUG",
]


def quickstart_env(data_dir: Path, **overrides: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in STRIPPED}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="true",
        RM_DATA_DIR=str(data_dir),
        # The tests' servers, and this session's prefix: what the run leaves is reported.
        RM_PROVIDER_POSTGRESQL_URL=f"postgresql://{quote(PG_USER)}:{quote(PG_PASSWORD, safe='')}"
                                   f"@{PG_HOST}:{PG_PORT}/postgres?name_prefix={NAME_PREFIX}",
        RM_PROVIDER_MYSQL_URL=f"mysql://root@127.0.0.1:3306?name_prefix={NAME_PREFIX}",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, MANAGE_PY, *args], env=env, cwd=settings.BASE_DIR,
        capture_output=True, text=True, timeout=120,
    )


def manage_ok(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = manage(env, *args)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


def secret_files(data_dir: Path) -> dict[str, str]:
    return {name: (data_dir / name).read_text() for name in ("secret_key", "encryption_keys")}


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory) -> dict:
    """A data directory bootstrapped twice, with the outputs of both runs."""
    data_dir = tmp_path_factory.mktemp("quickstart") / "data"
    env = quickstart_env(data_dir)
    first = manage_ok(env, "bootstrap")
    secrets_after_first = secret_files(data_dir)
    second = manage_ok(env, "bootstrap")
    return {
        "data_dir": data_dir, "env": env, "first": first, "second": second,
        "secrets_after_first": secrets_after_first,
    }


def test_first_bootstrap_prints_a_generated_operator_password_once(quickstart):
    output = quickstart["first"].stdout

    passwords = PASSWORD_LINE.findall(output)

    assert len(passwords) == 1, output
    assert len(passwords[0]) >= 20


def test_the_printed_password_is_the_operators_password(quickstart):
    [password] = PASSWORD_LINE.findall(quickstart["first"].stdout)
    script = (
        "from django.contrib.auth import authenticate; "
        f"user = authenticate(username='admin', password={password!r}); "
        "print(user is not None and user.is_superuser)"
    )

    result = manage_ok(quickstart["env"], "shell", "-c", script)

    assert result.stdout.splitlines()[-1] == "True"


def test_first_bootstrap_creates_the_sqlite_database_and_private_secret_files(quickstart):
    data_dir = quickstart["data_dir"]

    assert (data_dir / "db.sqlite3").stat().st_size > 0
    for name in ("secret_key", "encryption_keys"):
        mode = stat.S_IMODE((data_dir / name).stat().st_mode)
        assert mode == 0o600, f"{name} has mode {oct(mode)}"
        assert (data_dir / name).read_text().strip()


def test_bootstrap_declares_the_providers_of_the_environment(quickstart):
    output = quickstart["first"].stdout

    assert "provider postgresql (postgresql) declared" in output
    assert "provider mysql (mysql) declared" in output


def test_second_bootstrap_keeps_the_secrets_and_prints_no_password(quickstart):
    second = quickstart["second"].stdout

    assert "operator 'admin' exists" in second
    assert "password" not in second.lower()
    assert secret_files(quickstart["data_dir"]) == quickstart["secrets_after_first"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def server(quickstart, tmp_path_factory) -> Iterator[Server]:
    """``manage.py runserver`` on the bootstrapped data directory."""
    port = free_port()
    server = Server(f"http://127.0.0.1:{port}", tmp_path_factory.mktemp("runserver") / "log")
    with server.log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, MANAGE_PY, "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=quickstart["env"], cwd=settings.BASE_DIR, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{server.url}/api/schema/", timeout=2).close()  # noqa: S310
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"runserver did not start:\n{server.log()}") from None
                time.sleep(0.2)
        yield server
    finally:
        stop(process)


def call(server: Server, token: str, method: str, path: str, body: dict | None = None):
    request = urllib.request.Request(  # noqa: S310 (a local test server)
        f"{server.url}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def created_backends() -> Iterator[list[str]]:
    """Backend names to drop from the local server after the test, whatever happened."""
    names: list[str] = []
    yield names
    with pg_admin_connect() as conn:
        for name in names:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def test_a_resource_lives_and_dies_over_http_with_tasks_in_the_web_process(
    quickstart, server, created_backends
):
    token = manage_ok(quickstart["env"], "create_api_token", "admin").stdout.strip()
    assert token.startswith("rmt_")

    body = {"provider": "postgresql", "name": "smoke"}
    status, created = call(server, token, "POST", "/api/c/team-a/resources", body)
    assert status == 201, (created, server.log())
    if created["credentials"]:
        created_backends.append(created["credentials"]["database"])
    assert created["status"] == "ready", (created, server.log())

    status, detail = call(server, token, "POST",
                          f"/api/c/team-a/resources/{created['id']}/reveal")
    assert status == 200, (detail, server.log())
    with psycopg.connect(detail["credentials"]["uri"], connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (
            detail["credentials"]["username"],
        )

    status, deleted = call(server, token, "DELETE", f"/api/c/team-a/resources/{created['id']}")
    assert status == 202, (deleted, server.log())
    assert deleted["status"] == "deleted", (deleted, server.log())
    with pg_admin_connect() as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s",
            (detail["credentials"]["database"],),
        ).fetchone()
    assert found == (0,)


def test_runserver_serves_the_api_docs_and_their_assets(server):
    with urllib.request.urlopen(f"{server.url}/api/docs/", timeout=10) as response:  # noqa: S310
        page = response.read().decode()
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)

    assert any(url.endswith("swagger-ui-bundle.js") for url in assets), page[:2000]
    for url in assets:
        with urllib.request.urlopen(f"{server.url}{url}", timeout=10) as response:  # noqa: S310
            assert response.status == 200 and response.read(), url


def test_the_readme_s_token_command_works_as_written_in_the_quick_start_s_setting(
    quickstart, tmp_path
):
    """``scripts/manage create_api_token admin`` from a shell that set nothing (no DEBUG),
    in another directory; bare ``manage.py`` there refuses to start without secrets."""
    shell = {name: value for name, value in os.environ.items() if name not in STRIPPED}
    shell["RM_DATA_DIR"] = str(quickstart["data_dir"])  # the quick start's ./data

    bare = subprocess.run(
        [sys.executable, MANAGE_PY, "create_api_token", "admin"], env=shell, cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )
    wrapped = subprocess.run(
        [str(settings.BASE_DIR / "scripts" / "manage"), "create_api_token", "admin"],
        env=shell, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )

    assert bare.returncode != 0 and "SECRET_KEY is not set" in bare.stderr
    assert wrapped.returncode == 0, wrapped.stderr
    token = wrapped.stdout.strip()
    assert token.startswith("rmt_")
    script = ("from resourcemanager.identity.tokens import authenticate_token; "
              f"print(authenticate_token({token!r}).user.username)")
    assert manage_ok(quickstart["env"], "shell", "-c", script).stdout.split()[-1] == "admin"


def test_without_debug_check_refuses_to_start_without_secret_key(tmp_path):
    env = quickstart_env(tmp_path / "data", DEBUG="false")

    result = manage(env, "check")

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr
    assert not (tmp_path / "data").exists()


def test_without_debug_check_refuses_to_start_without_encryption_keys(tmp_path):
    env = quickstart_env(tmp_path / "data", DEBUG="false", SECRET_KEY="x" * 50)

    result = manage(env, "check")

    assert result.returncode != 0
    assert "RM_ENCRYPTION_KEYS is not set" in result.stderr
    assert "SECRET_KEY is not set" not in result.stderr
