"""A throwaway PostgreSQL 15 cluster with scram-sha-256 authentication, for tests.

The machine's main cluster trusts every local connection, so a wrong password passes there;
this one checks passwords. It is the PostgreSQL server of the whole test session
(``session_cluster``). It also holds a least-privilege admin role (``CREATEDB
CREATEROLE``, not superuser), as provider instances should use.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

from tests.support.leaks import pg_objects

PG_BIN = Path(os.environ.get("RM_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ScramCluster:
    """``start()`` initialises and starts the cluster, ``stop()`` kills it and removes it."""

    host = "127.0.0.1"
    superuser = "postgres"
    admin_user = "rm_admin"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port(self.host)
        self.superuser_password = secrets.token_urlsafe(24)
        self.admin_password = secrets.token_urlsafe(24)
        self.root: Path | None = None
        self.running = False
        self.baseline: set[str] = set()

    @property
    def data_dir(self) -> Path:
        assert self.root is not None, "cluster not started"
        return self.root / "data"

    def start(self) -> ScramCluster:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"no PostgreSQL binaries in {PG_BIN}")
        self.root = Path(tempfile.mkdtemp(prefix="rm-pgtest-"))
        atexit.register(self.stop)
        try:
            pwfile = self.root / "pwfile"
            pwfile.write_text(self.superuser_password + "\n")
            pwfile.chmod(0o600)
            self._chown(self.root, pwfile)
            self._run("initdb", "-D", str(self.data_dir), "-U", self.superuser,
                      "--auth=scram-sha-256", f"--pwfile={pwfile}", "--encoding=UTF8",
                      "--locale=C")
            pwfile.unlink()
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write(f"\nport = {self.port}\n"
                           f"listen_addresses = '{self.host}'\n"
                           f"unix_socket_directories = '{self.root}'\n"
                           "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n")
            self.resume()
            with self.superuser_connect() as conn:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEDB CREATEROLE PASSWORD {}")
                             .format(sql.Identifier(self.admin_user),
                                     sql.Literal(self.admin_password)))
                # Reads sizes (pg_database_size) of databases it may not connect to.
                conn.execute(sql.SQL("GRANT pg_read_all_stats TO {}")
                             .format(sql.Identifier(self.admin_user)))
                self.baseline = pg_objects(conn)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Idempotent; also registered with atexit in case a fixture never finalises."""
        if self.root is None:
            return
        if self.running:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop",
                      check=False)
            self.running = False
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def pause(self) -> None:
        """Shut the server down, keeping its data, as an outage would."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        self.running = False

    def resume(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "start")
        self.running = True

    def superuser_connect(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(host=self.host, port=self.port, user=self.superuser,
                               password=self.superuser_password, dbname=dbname,
                               autocommit=True, connect_timeout=5)

    def leftovers(self) -> set[str]:
        """Databases and roles made since ``start`` that are still there."""
        with self.superuser_connect() as conn:
            return pg_objects(conn) - self.baseline

    # -- helpers --------------------------------------------------------------------------

    @staticmethod
    def _as_os_user() -> list[str]:
        """initdb and postgres refuse to run as root: switch to the postgres account."""
        return ["runuser", "-u", OS_USER, "--"] if os.geteuid() == 0 else []

    @staticmethod
    def _chown(*paths: Path) -> None:
        if os.geteuid() == 0:
            for path in paths:
                shutil.chown(path, OS_USER, OS_USER)

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        command = [*self._as_os_user(), str(PG_BIN / program), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                                check=False)
        if check and result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}): "
                               f"{result.stderr.strip() or result.stdout.strip()}")


_session: ScramCluster | None = None


def session_cluster() -> ScramCluster:
    """The one cluster of this test session (process), started on first use.

    It outlives every fixture and is removed at exit (``start`` registers ``stop``).
    """
    global _session
    if _session is None or _session.root is None:
        _session = ScramCluster().start()
    return _session


def running_session_cluster() -> ScramCluster | None:
    """The session's cluster if it was started, without starting it."""
    return _session if _session is not None and _session.root is not None else None
