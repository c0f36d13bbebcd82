"""Secrets never leave their one place: encrypted columns, and the resource detail.

Canaries are planted (a tenant password read from the API, a provider admin password, an
API token) while the whole lifecycle runs, failures included, with SQL logging on; then
every place a secret could leak to is searched: each column of each table of the app
database, logs (records and the console stream), audit rows, error bodies, lists,
``dumpdata``, admin pages and the PostgreSQL server log.
"""

from __future__ import annotations

import io
import logging
import re
import secrets
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import psycopg
import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from psycopg import sql

from audit.models import AuditEntry
from providers.models import Provider
from resourcemanager.identity.models import ApiToken
from resourcemanager.identity.roles import Role
from resourcemanager.identity.tokens import issue_token
from resourcemanager.resources.models import Resource
from resourcemanager.telemetry.context import RequestIdLogFilter
from tests.conftest import (
    MYSQL_HOST,
    MYSQL_PORT,
    MYSQL_USER,
    PG_HOST,
    PG_PORT,
    pg_admin_connect,
)
from tests.support.leaks import NAME_PREFIX

#: Unique per run. The hex core survives any quoting or escaping of the whole.
CANARY_CORE = secrets.token_hex(12)
ADMIN_CANARY = f"Canary'{CANARY_CORE} p@ss:/%"
#: A superuser of the tests' PostgreSQL (it checks passwords) whose password is the canary.
CANARY_ADMIN = f"{NAME_PREFIX}canary"
TEAM_A = "/api/c/team-a/resources"


@dataclass
class Planted:
    tenant_password: str
    token: str
    resource_id: str
    list_body: str
    detail_body: str
    error_bodies: list[str]

    def secrets(self) -> dict[str, str]:
        return {
            "tenant password": self.tenant_password,
            "admin canary": CANARY_CORE,
            "API token": self.token[len("rmt_") + 6 :],  # beyond the stored hint
        }


def assert_no_secret_in(text: str, planted: Planted, where: str) -> None:
    for what, secret in planted.secrets().items():
        assert secret not in text, f"the {what} leaked into {where}"


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture
def console_log(capfd) -> Iterator[None]:
    """The production console handler, writing to the stderr that ``capfd`` captures."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(django_settings.LOGGING["formatters"]["plain"]
                                           ["format"]))
    handler.addFilter(RequestIdLogFilter())
    logging.getLogger().addHandler(handler)
    yield
    logging.getLogger().removeHandler(handler)


@pytest.fixture
def canary_admin() -> Iterator[str]:
    """``CANARY_ADMIN``, made for the test and dropped after it."""
    role = sql.Identifier(CANARY_ADMIN)
    with pg_admin_connect() as conn:
        verifier = conn.pgconn.encrypt_password(ADMIN_CANARY.encode(), CANARY_ADMIN.encode())
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}")
                     .format(role, sql.Literal(verifier.decode())))
    yield CANARY_ADMIN
    with pg_admin_connect() as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))


@pytest.fixture
def canary_provider(canary_admin, backend_cleanup) -> Provider:
    """The tests' PostgreSQL, its admin's password a canary."""
    return Provider.objects.create(
        key="canary", provider_class="postgresql", host=PG_HOST, port=PG_PORT,
        username=canary_admin, password=ADMIN_CANARY, options={"database": "postgres"},
    )


@pytest.fixture
def planted(capfd, console_log, caplog, settings, make_client, canary_provider) -> Planted:
    """Run the lifecycle, failures included, at DEBUG with SQL logging, and keep the canaries."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    settings.DEBUG = True  # with the logger above: every SQL statement with its parameters
    client = make_client(team_a=Role.RESOURCE_ADMIN)
    _, token = issue_token(client.user, "canary", expires_in_days=1)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    created = client.post(TEAM_A, {"provider": "canary", "name": "vault", "tags": ["x"]},
                          format="json")
    assert created.status_code == 201, created.json()
    resource_id = created.json()["id"]
    detail = created
    tenant_password = detail.json()["credentials"]["password"]
    client.patch(f"{TEAM_A}/{resource_id}", {"tags": ["y"]}, format="json")
    with pg_admin_connect() as conn:  # break the login: CHECK must notice
        conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(
            sql.Identifier(detail.json()["credentials"]["username"])))
    errors = [client.post(f"{TEAM_A}/{resource_id}/check", {"repair": False}, format="json")]
    client.post(f"{TEAM_A}/{resource_id}/check", {"repair": True}, format="json")

    canary_provider.port = 1  # unreachable: creation and deletion fail
    canary_provider.save()
    failed = client.post(TEAM_A, {"provider": "canary", "name": "lost"}, format="json")
    assert failed.json()["status"] == "error", failed.json()
    errors += [failed, client.delete(f"{TEAM_A}/{failed.json()['id']}"),
               client.get(f"{TEAM_A}/{failed.json()['id']}"),
               client.get(TEAM_A, {"status": "error"})]
    canary_provider.port = PG_PORT
    canary_provider.save()

    return Planted(
        tenant_password=tenant_password,
        token=token,
        resource_id=resource_id,
        list_body=client.get(TEAM_A, {"status": "ready"}).content.decode(),
        detail_body=client.post(f"{TEAM_A}/{resource_id}/reveal").content.decode(),
        error_bodies=[response.content.decode() for response in errors],
    )


# --- the app database ------------------------------------------------------------------


def stored_values() -> Iterator[tuple[str, str]]:
    """(table, value as text) for every value of every table in the app database."""
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, memoryview):
                        value = bytes(value)
                    if isinstance(value, bytes):
                        value = value.decode("latin-1")
                    yield table, str(value)


def test_the_reveal_holds_the_credential_the_canaries_are_real(planted):
    assert planted.tenant_password in planted.detail_body
    assert len(planted.tenant_password) >= 32
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user=CANARY_ADMIN, password=ADMIN_CANARY,
                         dbname="postgres") as conn:
        conn.execute("SELECT 1")  # the canary admin password is accepted by this server


def test_no_secret_in_any_column_of_any_table(planted):
    tables = set(connection.introspection.table_names())
    assert {model._meta.db_table for model in apps.get_models()} <= tables
    scanned = 0

    for table, value in stored_values():
        assert_no_secret_in(value, planted, f"table {table}")
        scanned += 1

    assert scanned > 100
    with connection.cursor() as cursor:  # the scan saw the encrypted secrets themselves
        resource_id = Resource._meta.pk.get_db_prep_value(planted.resource_id, connection)
        cursor.execute("SELECT credentials FROM resourcemanager_resource WHERE id = %s",
                       [resource_id])
        assert cursor.fetchone()[0].startswith("rm1:")  # a token under a data key
        cursor.execute("SELECT password FROM providers_provider WHERE key = 'canary'")
        assert cursor.fetchone()[0].startswith("rm1:")


def test_no_secret_in_log_records(planted, caplog):
    records = [*caplog.get_records("setup"), *caplog.get_records("call")]
    text = "\n".join(logging.Formatter().format(record) for record in records)

    assert "resource.create of resource" in text  # the failure was logged
    assert any(record.name == "django.db.backends" for record in records)  # SQL was logged
    assert_no_secret_in(text, planted, "log records")


def test_no_secret_on_the_console(planted, capfd):
    out, err = capfd.readouterr()

    assert "resource.create of resource" in err  # the console handler was captured
    assert_no_secret_in(out + err, planted, "stdout/stderr")


def test_no_secret_in_audit_entries(planted):
    entries = list(AuditEntry.objects.values())
    outcomes = {(entry["action"], entry["outcome"]) for entry in entries}

    assert ("resource.create", "failure") in outcomes
    assert ("resource.check", "failure") in outcomes
    assert ("token.issue", "success") in outcomes
    for entry in entries:
        assert_no_secret_in(repr(entry), planted, f"audit entry {entry['action']}")


def test_no_secret_in_error_bodies(planted):
    assert len(planted.error_bodies) == 5
    joined = "\n".join(planted.error_bodies)
    assert "the PostgreSQL server could not be reached (ref " in joined  # detail: operators'
    assert "is not allowed to log in" in joined  # the failed check without repair
    for body in planted.error_bodies:
        assert_no_secret_in(body, planted, "an error body")


def test_lists_hold_no_credentials(planted):
    assert '"vault"' in planted.list_body
    assert "credentials" not in planted.list_body
    assert_no_secret_in(planted.list_body, planted, "the list")


@pytest.mark.parametrize("fmt", ["json", "xml", "yaml"])
def test_dumpdata_holds_no_secret(planted, fmt):
    out = io.StringIO()

    call_command("dumpdata", format=fmt, stdout=out)

    assert planted.resource_id in out.getvalue()
    assert_no_secret_in(out.getvalue(), planted, f"dumpdata --format={fmt}")


def test_check_resources_command_output_holds_no_secret(planted):
    with pg_admin_connect() as conn:  # failing again: listed with its reason
        conn.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(
            sql.Identifier(Resource.objects.get(pk=planted.resource_id).backend_name)))
    out = io.StringIO()

    with pytest.raises(CommandError):  # exit status 1: resources fail
        call_command("check_resources", "--json", "--no-repair", stdout=out)

    assert planted.resource_id in out.getvalue()
    assert_no_secret_in(out.getvalue(), planted, "check_resources --json")


# --- failing operations with a canary admin password ------------------------------------


def _pg(**changes) -> dict:
    return {"provider_class": "postgresql", "host": PG_HOST, "port": PG_PORT,
            "username": CANARY_ADMIN, "options": {"database": "postgres"}, **changes}


FAILURES = {
    "pg-unreachable": (_pg(port=1), "cannot reach PostgreSQL"),
    "pg-no-maintenance-db": (_pg(options={"database": "no_such_db"}), "does not exist"),
    "pg-ssl-required": (_pg(options={"database": "postgres", "sslmode": "require"}), "SSL"),
    "mysql-wrong-password": ({"provider_class": "mysql", "host": MYSQL_HOST,
                              "port": MYSQL_PORT, "username": MYSQL_USER}, "Access denied"),
    "mysql-unreachable": ({"provider_class": "mysql", "host": MYSQL_HOST, "port": 1,
                           "username": MYSQL_USER}, "cannot reach MySQL"),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_failing_operations_never_show_the_admin_password(
    make_client, backend_cleanup, canary_admin, caplog, failure
):
    caplog.set_level(logging.DEBUG)
    config, reason = FAILURES[failure]
    Provider.objects.create(key="broken", password=ADMIN_CANARY, **config)
    client = make_client(team_a=Role.RESOURCE_ADMIN)

    created = client.post(TEAM_A, {"provider": "broken", "name": "lost"}, format="json")
    url = f"{TEAM_A}/{created.json()['id']}"
    bodies = [created, client.post(f"{url}/check", format="json"), client.get(url),
              client.delete(url), client.get(url), client.get(TEAM_A, {"status": "error"})]

    assert created.json()["status"] == "error"
    assert reason in Resource.objects.get(pk=created.json()["id"]).status_message  # operators'
    for response in bodies:
        assert CANARY_CORE not in response.content.decode()
    for entry in AuditEntry.objects.values():
        assert CANARY_CORE not in repr(entry)
    assert CANARY_CORE not in caplog.text


def test_the_scram_cluster_refusing_the_canary_admin_does_not_echo_it(
    make_client, scram_cluster, backend_cleanup
):
    Provider.objects.create(key="scram-canary", provider_class="postgresql",
                            host=scram_cluster.host, port=scram_cluster.port,
                            username=scram_cluster.admin_user, password=ADMIN_CANARY,
                            options={"database": "postgres"})
    client = make_client(team_a=Role.RESOURCE_ADMIN)

    created = client.post(TEAM_A, {"provider": "scram-canary", "name": "lost"}, format="json")

    stored = Resource.objects.get(pk=created.json()["id"]).status_message  # operators'
    assert "password authentication failed" in stored
    assert CANARY_CORE not in created.content.decode()


# --- API tokens ------------------------------------------------------------------------


def test_api_tokens_are_stored_only_as_digests(make_client):
    user = make_client(team_a=Role.USER).user
    out = io.StringIO()
    call_command("create_api_token", user.username, stdout=out, stderr=io.StringIO())
    token = re.fullmatch(r"(rmt_\S+)\n", out.getvalue()).group(1)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

    assert client.get("/api/c/team-a/providers").status_code == 200
    stored = ApiToken.objects.get(hint=token[:10])
    assert stored.digest == ApiToken.digest_of(token)
    for table, value in stored_values():
        assert token not in value, f"the API token is stored in {table}"
        assert token[10:] not in value, f"the API token is stored in {table}"


# --- the admin -------------------------------------------------------------------------


@pytest.fixture
def operator(django_user_model) -> Client:
    user = django_user_model.objects.create_superuser("operator", password=None)
    client = Client()
    client.force_login(user)
    return client


def test_admin_pages_never_render_the_secrets(operator, planted):
    provider = Provider.objects.get(key="canary")
    pages = [
        reverse("admin:providers_provider_changelist"),
        reverse("admin:providers_provider_change", args=[provider.pk]),
        reverse("admin:resourcemanager_resource_changelist"),
        reverse("admin:resourcemanager_resource_change", args=[planted.resource_id]),
        reverse("admin:resourcemanager_resource_history", args=[planted.resource_id]),
        reverse("admin:audit_auditentry_changelist"),
    ]

    for page in pages:
        response = operator.get(page)
        assert response.status_code == 200, page
        assert_no_secret_in(response.content.decode(), planted, page)


def test_admin_test_connection_failure_does_not_show_the_admin_password(operator, canary_provider):
    canary_provider.port = 1
    canary_provider.save()

    response = operator.post(
        reverse("admin:providers_provider_changelist"),
        {"action": "test_connection", "_selected_action": [canary_provider.pk]},
        follow=True,
    )

    assert "cannot reach PostgreSQL" in response.content.decode()
    assert CANARY_CORE not in response.content.decode()


def test_changing_the_admin_password_in_the_admin_leaves_no_trace(operator, canary_provider):
    new_core = secrets.token_hex(12)
    response = operator.post(
        reverse("admin:providers_provider_change", args=[canary_provider.pk]),
        {"key": "canary", "provider_class": "postgresql", "description": "", "host": PG_HOST,
         "port": PG_PORT, "username": CANARY_ADMIN, "password": f"new-{new_core}",
         "options": '{"database": "postgres"}', "allowed_scopes": "[]", "enabled": "on"},
        follow=True,
    )

    assert response.status_code == 200
    assert Provider.objects.get(pk=canary_provider.pk).password == f"new-{new_core}"
    assert new_core not in response.content.decode()
    for table, value in stored_values():
        assert new_core not in value, f"the new admin password is stored in {table}"


# --- the PostgreSQL server ---------------------------------------------------------------


@pytest.fixture
def scram_statement_log(scram_cluster) -> Iterator[Callable[[], str]]:
    """Log every statement on the scram cluster; yields a reader of what got logged since."""
    log = scram_cluster.root / "server.log"
    start = log.stat().st_size
    with scram_cluster.superuser_connect() as conn:
        conn.execute("ALTER SYSTEM SET log_statement = 'all'")
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield lambda: log.read_bytes()[start:].decode(errors="replace")
    finally:
        with scram_cluster.superuser_connect() as conn:
            conn.execute("ALTER SYSTEM RESET log_statement")
            conn.execute("SELECT pg_reload_conf()")


def test_tenant_passwords_never_reach_the_postgresql_server_log(
    make_client, scram_provider, scram_cluster, scram_statement_log
):
    client = make_client(team_a=Role.RESOURCE_ADMIN)
    resource = client.post(TEAM_A, {"provider": "pg-scram", "name": "vault"}, format="json")
    credentials = resource.json()["credentials"]
    with scram_cluster.superuser_connect() as conn:  # break the password: CHECK resets it
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD 'broken-on-purpose'")
                     .format(sql.Identifier(credentials["username"])))
    client.post(f"{TEAM_A}/{resource.json()['id']}/check", format="json")

    logged = scram_statement_log()

    assert Resource.objects.get(pk=resource.json()["id"]).last_check_message.endswith(
        "(repaired: password reset)"
    )
    assert "CREATE ROLE" in logged and "PASSWORD" in logged  # statements were logged
    assert credentials["password"] not in logged
