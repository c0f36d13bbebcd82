"""Shared fixtures: provider instances on the local servers, users with roles, API clients."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator

import psycopg
import pymysql
import pytest
from rest_framework.test import APIClient

from providers.base import ProviderError
from providers.models import Provider
from resourcemanager.access import Role
from resourcemanager.models import Resource, ScopeRole
from resourcemanager.tokens import issue_token
from tests.support.pgcluster import ScramCluster

PG_HOST = os.environ.get("RM_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("RM_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("RM_TEST_PG_USER", "postgres")
PG_PASSWORD = os.environ.get("RM_TEST_PG_PASSWORD", "postgres")
MYSQL_HOST = os.environ.get("RM_TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("RM_TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("RM_TEST_MYSQL_USER", "root")
MYSQL_PASSWORD = os.environ.get("RM_TEST_MYSQL_PASSWORD", "")


def pg_admin_connect(dbname: str = "postgres") -> psycopg.Connection:
    """A superuser connection to the local PostgreSQL server, to inspect what was made."""
    return psycopg.connect(
        host=PG_HOST, port=PG_PORT, user=PG_USER, password=PG_PASSWORD, dbname=dbname,
        autocommit=True,
    )


def mysql_admin_connect() -> pymysql.Connection:
    return pymysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, password=MYSQL_PASSWORD,
        autocommit=True,
    )


@pytest.fixture(scope="session")
def scram_cluster() -> Iterator[ScramCluster]:
    """A throwaway PostgreSQL cluster that really checks passwords (scram-sha-256)."""
    cluster = ScramCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def backend_cleanup(transactional_db) -> Iterator[None]:
    """After the test, drop whatever its resources created on the servers."""
    yield
    for resource in Resource.objects.select_related("provider"):
        with contextlib.suppress(ProviderError):  # an unreachable server holds nothing of ours
            resource.provider.adapter().delete(resource.backend_name)


@pytest.fixture
def pg_provider(backend_cleanup) -> Provider:
    return Provider.objects.create(
        key="pg", provider_class="postgresql", host=PG_HOST, port=PG_PORT,
        username=PG_USER, password=PG_PASSWORD, options={"database": "postgres"},
    )


@pytest.fixture
def mysql_provider(backend_cleanup) -> Provider:
    return Provider.objects.create(
        key="mysql", provider_class="mysql", host=MYSQL_HOST, port=MYSQL_PORT,
        username=MYSQL_USER, password=MYSQL_PASSWORD,
    )


@pytest.fixture
def scram_provider(backend_cleanup, scram_cluster: ScramCluster) -> Provider:
    """A PostgreSQL instance whose admin is a least-privilege CREATEDB CREATEROLE login."""
    return Provider.objects.create(
        key="pg-scram", provider_class="postgresql", host=scram_cluster.host,
        port=scram_cluster.port, username=scram_cluster.admin_user,
        password=scram_cluster.admin_password, options={"database": "postgres"},
    )


@pytest.fixture
def make_client(transactional_db, django_user_model) -> Callable[..., APIClient]:
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
