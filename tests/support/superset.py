"""A real Superset, installed from PyPI, for the live builder test.

``SUPERSET_VERSION`` is installed once per machine into a virtual environment in a cache
directory outside the repository (``$RM_TEST_TOOL_CACHE``, default
``~/.cache/resourcemanager-tests``; a lock keeps parallel test processes from installing
it twice), with the versions of ``superset_constraints.txt``, with which it was run here,
and the PostgreSQL and MySQL drivers it connects with. Its metadata database (SQLite) is
made there once too, with an admin, and copied for each test session, which starts the
tool on a free port of 127.0.0.1. With PyPI unreachable the test skips and says so; any
other failure of the installation fails it.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.support.pgcluster import free_port
from tests.support.processes import stop

SUPERSET_VERSION = "6.1.0"
_PACKAGES = [f"apache-superset=={SUPERSET_VERSION}", "psycopg2-binary", "PyMySQL",
             "cachetools", "rich"]
_CONSTRAINTS = Path(__file__).with_name("superset_constraints.txt")
_UNREACHABLE = re.compile(r"Failed to establish a new connection|Temporary failure in name "
                          r"resolution|No matching distribution|Max retries exceeded", re.I)
_ADMIN = "admin"


@dataclass(frozen=True)
class Superset:
    url: str
    username: str
    password: str


def _home() -> Path:
    root = os.environ.get("RM_TEST_TOOL_CACHE") or Path.home() / ".cache/resourcemanager-tests"
    return Path(root) / f"superset-{SUPERSET_VERSION}"


def _run(command: list[str], env: dict[str, str], what: str, timeout: float) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if done.returncode != 0:
        output = done.stderr + done.stdout
        if _UNREACHABLE.search(output):
            pytest.skip(f"PyPI is unreachable: {output.strip()[-300:]}")
        pytest.fail(f"{what} failed: {output[-2000:]}")


def _tool_env(config: Path) -> dict[str, str]:
    return {**os.environ, "SUPERSET_CONFIG_PATH": str(config), "FLASK_APP": "superset"}


def _write_config(path: Path, database: Path, secret_key: str) -> None:
    path.write_text(f"SECRET_KEY = {secret_key!r}\n"
                    f"SQLALCHEMY_DATABASE_URI = 'sqlite:///{database}'\n")


def _installed(home: Path) -> None:
    """Install the tool under ``home`` and make its metadata database there, unless done.
    The virtual environment is made in place (its scripts name their interpreter by
    path); the template database, made last, marks the installation complete."""
    home.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{home}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (home / "template.db").exists():
            return
        shutil.rmtree(home, ignore_errors=True)  # what an interrupted installation left
        home.mkdir()
        venv = home / "venv"
        _run([sys.executable, "-m", "venv", str(venv)], dict(os.environ), "venv", 120)
        _run([str(venv / "bin/pip"), "install", "--quiet", "--constraint", str(_CONSTRAINTS),
              *_PACKAGES], dict(os.environ), f"pip install apache-superset=={SUPERSET_VERSION}",
             900)
        _make_template(home)


def _make_template(home: Path) -> None:
    """The metadata database with the schema, an admin and Superset's roles, and the
    admin's password and the key the database was made with, beside it."""
    password, secret_key = "Ss-" + secrets.token_hex(10), secrets.token_hex(32)
    with tempfile.TemporaryDirectory(dir=home) as work:
        config, database = Path(work) / "superset_config.py", Path(work) / "superset.db"
        _write_config(config, database, secret_key)
        env = _tool_env(config)
        command = home / "venv/bin/superset"
        _run([str(command), "db", "upgrade"], env, "superset db upgrade", 600)
        _run([str(command), "fab", "create-admin", "--username", _ADMIN, "--firstname",
              "Resource", "--lastname", "Manager", "--email", "admin@example.com",
              "--password", password], env, "superset fab create-admin", 300)
        _run([str(command), "init"], env, "superset init", 600)
        (home / "admin-password").write_text(password)
        (home / "secret-key").write_text(secret_key)
        database.rename(home / "template.db")


def _wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Superset exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    pytest.fail(f"Superset did not answer within 120 s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="session")
def superset() -> Iterator[Superset]:
    """A running Superset ``SUPERSET_VERSION`` and its admin's login."""
    home = _home()
    _installed(home)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="rm-superset-") as data:
        config, database, log = (Path(data) / name for name in
                                 ("superset_config.py", "superset.db", "superset.log"))
        shutil.copyfile(home / "template.db", database)
        _write_config(config, database, (home / "secret-key").read_text())
        with open(log, "w") as out:
            process = subprocess.Popen(
                [str(home / "venv/bin/superset"), "run", "--host", "127.0.0.1", "--port", str(port),
                 "--with-threads"], env=_tool_env(config), stdout=out, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_up(url, process, log)
            yield Superset(url, _ADMIN, (home / "admin-password").read_text())
        finally:
            stop(process)
