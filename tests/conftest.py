"""Shared fixtures: provider instances on the local servers, users with roles, API clients.

The tests' PostgreSQL server is a throwaway scram-sha-256 cluster of this session (it
really checks passwords; the machine's own server trusts local connections), unless
``RM_TEST_PG_HOST`` names another one. Every instance the fixtures declare names its
backend objects with this session's prefix, and the session fails when it leaves any.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import psycopg
import pymysql
import pytest
from django.db import connection
from rest_framework.test import APIClient

from providers.adapters.base import ProviderAdapter, ProviderError
from providers.models import Provider
from resourcemanager.core import datakeys
from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import Role
from resourcemanager.identity.tokens import issue_token
from resourcemanager.resources.models import Resource
from tests.support.fast_commits import emulated_commits
from tests.support.leaks import (
    NAME_PREFIX,
    SESSION_PREFIX,
    mysql_objects,
    pg_objects,
    report,
    s3_objects,
)
from tests.support.memory_provider import MEMORY_CLASS, MemoryServer, memory_provider_class
from tests.support.mongowire import FakeMongod
from tests.support.pgcluster import ScramCluster, running_session_cluster, session_cluster


def _postgresql() -> tuple[str, int, str, str]:
    """Host, port, superuser and password of the tests' PostgreSQL server."""
    if host := os.environ.get("RM_TEST_PG_HOST"):
        return (host, int(os.environ.get("RM_TEST_PG_PORT", "5432")),
                os.environ.get("RM_TEST_PG_USER", "postgres"),
                os.environ.get("RM_TEST_PG_PASSWORD", ""))
    cluster = session_cluster()
    return cluster.host, cluster.port, cluster.superuser, cluster.superuser_password


PG_HOST, PG_PORT, PG_USER, PG_PASSWORD = _postgresql()
MYSQL_HOST = os.environ.get("RM_TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("RM_TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("RM_TEST_MYSQL_USER", "root")
MYSQL_PASSWORD = os.environ.get("RM_TEST_MYSQL_PASSWORD", "")


def pg_admin_connect(dbname: str = "postgres") -> psycopg.Connection:
    """A superuser connection to the tests' PostgreSQL server, to inspect what was made."""
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD, dbname=dbname,
        autocommit=True, connect_timeout=5,
    )


def mysql_admin_connect() -> pymysql.Connection:
    return pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD,
        autocommit=True,
    )


def _shared_leftovers(app_database: dict) -> dict[str, set[str]]:
    """What this session left, by its prefix, on the servers other runs use too."""
    servers: dict[str, Callable[[], set[str]]] = {
        f"MariaDB at {MYSQL_HOST}:{MYSQL_PORT}": _mysql_prefixed,
    }
    if os.environ.get("RM_TEST_PG_HOST"):  # not the session's own cluster
        servers[f"PostgreSQL at {PG_HOST}:{PG_PORT}"] = lambda: _pg_prefixed(
            host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD)
    if app_database["ENGINE"] == "django.db.backends.postgresql":
        where = f"{app_database['HOST'] or 'localhost'}:{app_database['PORT'] or 5432}"
        servers[f"PostgreSQL at {where} (the app database's)"] = lambda: _pg_prefixed(
            host=app_database["HOST"], port=app_database["PORT"] or None,
            user=app_database["USER"], password=app_database["PASSWORD"])
    found = {}
    for where, list_objects in servers.items():
        with contextlib.suppress(psycopg.OperationalError, pymysql.MySQLError):
            found[where] = list_objects()  # an unreachable server holds nothing we made
    return found


def _mysql_prefixed() -> set[str]:
    with mysql_admin_connect() as conn:
        return mysql_objects(conn, SESSION_PREFIX)


def _pg_prefixed(**server) -> set[str]:
    with psycopg.connect(**server, dbname="postgres", autocommit=True,
                         connect_timeout=5) as conn:
        return pg_objects(conn, SESSION_PREFIX)


@pytest.fixture(scope="session", autouse=True)
def no_backend_leaks() -> Iterator[None]:
    """Fail the session when it leaves a database, role or user it made on a server."""
    app_database = dict(connection.settings_dict)
    yield
    leaks = _shared_leftovers(app_database)
    if cluster := running_session_cluster():
        leaks[f"the test PostgreSQL cluster at {cluster.host}:{cluster.port}"] = (
            cluster.leftovers())
    if found := report(leaks):
        pytest.fail(f"the test session left backend objects behind:\n{found}", pytrace=False)


@pytest.fixture(autouse=True)
def fresh_current_data_keys() -> None:
    """Each test reads its scopes' current data keys from its own database: a flushed or
    rolled-back one of an earlier test is not current here."""
    datakeys.forget_current()


@pytest.fixture(scope="session")
def scram_cluster() -> ScramCluster:
    """The session's PostgreSQL cluster that really checks passwords (scram-sha-256)."""
    return session_cluster()


@pytest.fixture
def committing_db(db) -> Iterator[None]:
    """The test's rolled-back transaction (``db``), in which the code's transactions run
    their on-commit work (outbox, provider operations, deliveries) when they end, as
    committed ones do (tests/support/fast_commits.py)."""
    with emulated_commits():
        yield


@pytest.fixture
def api_db(transactional_db) -> None:
    """The database of ``make_client`` and ``backend_cleanup``: committed for real, as
    tests with another thread or process reading the rows need. A directory whose tests
    use no other connection imports ``rolled_back_api_db`` into its conftest instead."""


class BackendCleanup:
    """The provider instances of a test whose objects its teardown drops."""

    def __init__(self) -> None:
        self.adapters: list[ProviderAdapter] = []

    def declare(self, **fields: object) -> Provider:
        """Create the instance and keep its adapter as configured now: a test may point
        the instance elsewhere (an unreachable port) and never back."""
        provider = Provider.objects.create(**fields)
        self.adapters.append(provider.adapter())
        return provider


@pytest.fixture
def backend_cleanup(api_db) -> Iterator[BackendCleanup]:
    """After the test, drop whatever its resources created on the servers, and everything
    named with the prefix of the instances declared through it, records or not."""
    cleanup = BackendCleanup()
    yield cleanup
    for resource in Resource.objects.filter(managed=True).select_related("provider"):
        with contextlib.suppress(ProviderError):  # an unreachable server holds nothing of ours
            resource.provider.adapter().delete(resource.backend_name)
    for adapter in cleanup.adapters:
        with contextlib.suppress(ProviderError):
            for name in adapter.inventory(adapter.name_prefix).names:
                adapter.delete(name)


@pytest.fixture
def pg_provider(backend_cleanup: BackendCleanup) -> Provider:
    return backend_cleanup.declare(
        key="pg", provider_class="postgresql", host=PG_HOST, port=PG_PORT,
        username=PG_USER, password=PG_PASSWORD,
        options={"database": "postgres", "name_prefix": NAME_PREFIX},
    )


@pytest.fixture
def mysql_provider(backend_cleanup: BackendCleanup) -> Provider:
    return backend_cleanup.declare(
        key="mysql", provider_class="mysql", host=MYSQL_HOST, port=MYSQL_PORT,
        username=MYSQL_USER, password=MYSQL_PASSWORD, options={"name_prefix": NAME_PREFIX},
    )


@pytest.fixture
def scram_provider(backend_cleanup: BackendCleanup, scram_cluster: ScramCluster) -> Provider:
    """A PostgreSQL instance whose admin is a least-privilege CREATEDB CREATEROLE login."""
    return backend_cleanup.declare(
        key="pg-scram", provider_class="postgresql", host=scram_cluster.host,
        port=scram_cluster.port, username=scram_cluster.admin_user,
        password=scram_cluster.admin_password,
        options={"database": "postgres", "name_prefix": NAME_PREFIX},
    )


@pytest.fixture
def memory_server() -> Iterator[MemoryServer]:
    """The ``memory`` provider class registered, and one server of it (in this process)."""
    with memory_provider_class() as server:
        yield server


def declare_memory_instance(cleanup: BackendCleanup, server: MemoryServer, key: str
                            ) -> Provider:
    """An instance named ``key`` on the in-memory ``server``."""
    return cleanup.declare(
        key=key, provider_class=MEMORY_CLASS, host=server.host, port=server.port,
        username=server.admin_user, password=server.admin_password,
        options={"name_prefix": NAME_PREFIX},
    )


@pytest.fixture
def memory_provider(memory_server: MemoryServer, backend_cleanup: BackendCleanup) -> Provider:
    """An instance ``mem`` on ``memory_server`` (requested first: it outlives the cleanup)."""
    return declare_memory_instance(backend_cleanup, memory_server, "mem")


@pytest.fixture
def make_client(api_db, django_user_model) -> Callable[..., APIClient]:
    """``make_client(scope=role, ...)``: an API client of a new user holding those roles."""
    counter = iter(range(1_000_000))

    def make(*, operator: bool = False, **roles: Role | str) -> APIClient:
        username = f"user{next(counter)}"
        user = django_user_model.objects.create_user(username=username, password=None)
        if operator:
            user.is_superuser = user.is_staff = True
            user.save()
        for scope, role in roles.items():
            ScopeRole.objects.create(user=user, scope=scope.replace("_", "-"), role=Role(role))
        _, token = issue_token(user, "tests", expires_in_days=1)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        client.user = user
        return client

    return make


class MotoS3:
    """A moto server enforcing IAM, and the access key of its bootstrapped admin user."""

    def __init__(self, host: str, port: int, access_key: str, secret_key: str) -> None:
        self.host, self.port = host, port
        self.access_key, self.secret_key = access_key, secret_key

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self, service: str, access_key: str | None = None, secret_key: str | None = None):
        """A boto3 client signing as the admin, or as the given key."""
        import boto3

        return boto3.session.Session(
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key, region_name="us-east-1",
        ).client(service, endpoint_url=self.endpoint)


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3]:
    """moto in server mode on a free port of 127.0.0.1, answering only signed, permitted
    requests once an admin user with an ``Action: *`` policy and an access key exists.

    moto counts unauthenticated actions against ``settings.INITIAL_NO_AUTH_ACTION_COUNT``
    (from the environment variable of that name, read once at import); its
    ``/moto-api/reset-auth`` endpoint sets it at run time and resets the count, so the
    three bootstrap calls below are the only ones it lets through unsigned.
    """
    import json

    import requests
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"3", timeout=5).raise_for_status()
        iam = MotoS3(host, port, "bootstrap", "bootstrap").client("iam")
        iam.create_user(UserName="moto-admin")
        iam.put_user_policy(UserName="moto-admin", PolicyName="admin", PolicyDocument=json.dumps(
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="moto-admin")["AccessKey"]
        moto = MotoS3(host, port, key["AccessKeyId"], key["SecretAccessKey"])
        baseline = s3_objects(moto.client("s3"), moto.client("iam"))
        yield moto
        # Private to the session, so anything new is ours; looked at before it goes.
        leftovers = s3_objects(moto.client("s3"), moto.client("iam")) - baseline
    finally:
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=5)
        server.stop()
    if found := report({f"moto S3 at {endpoint}": leftovers}):
        pytest.fail(f"the test session left backend objects behind:\n{found}", pytrace=False)


@pytest.fixture
def s3_provider(backend_cleanup: BackendCleanup, moto_s3: MotoS3) -> Provider:
    return backend_cleanup.declare(
        key="s3", provider_class="s3", host=moto_s3.host, port=moto_s3.port,
        username=moto_s3.access_key, password=moto_s3.secret_key,
        options={"secure": False, "clear_on_delete": True, "name_prefix": NAME_PREFIX},
    )


@pytest.fixture
def fake_mongod() -> Iterator[FakeMongod]:
    """A mockupdb-played mongod (tests/support/mongowire.py), stopped after the test."""
    server = FakeMongod()
    server.run()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mongo_provider(fake_mongod: FakeMongod, backend_cleanup) -> Provider:
    """A MongoDB instance on ``fake_mongod`` (requested first, so it outlives the cleanup)."""
    return Provider.objects.create(
        key="mongo", provider_class="mongodb", host=fake_mongod.host, port=fake_mongod.port,
        username=fake_mongod.admin_user, password=fake_mongod.admin_password,
        options={"auth_source": "admin"},
    )
