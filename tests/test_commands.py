"""manage.py commands: provider sync from the environment and CHECK sweeps."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from providers.models import Provider
from providers.services import sync_declared_providers
from resourcemanager.core.errors import InvalidInput
from tests.conftest import mysql_admin_connect

TEAM_A = "/api/c/team-a/resources"


@override_settings(
    RM_PROVIDER_POSTGRESQL_URL="postgresql://postgres:s3cr%40t@127.0.0.1:5432/postgres",
    RM_PROVIDERS=[
        {"key": "pg-eu", "class": "postgresql", "host": "db.eu", "username": "rm_admin",
         "password": "pw", "allowed_scopes": ["team-a"], "default": True},
        {"key": "my", "url": "mysql://admin@10.1.2.3/?user_host=10.%25&public_host=db.example"},
    ],
)
def test_declared_providers_are_synced(db):
    synced = {p.key: p for p in sync_declared_providers()}

    assert set(synced) == {"postgresql", "pg-eu", "my"}
    pg = Provider.objects.get(key="postgresql")
    assert (pg.host, pg.port, pg.username, pg.password) == ("127.0.0.1", 5432, "postgres", "s3cr@t")
    assert pg.options == {"database": "postgres"}
    assert pg.source == Provider.Source.ENVIRONMENT
    assert Provider.objects.get(key="pg-eu").port == 5432
    assert [p.key for p in Provider.objects.filter(is_default=True)] == ["pg-eu"]
    my = Provider.objects.get(key="my")
    assert (my.provider_class, my.port) == ("mysql", 3306)
    assert my.options == {"user_host": "10.%", "public_host": "db.example"}


def test_providers_no_longer_declared_are_disabled_not_deleted(db):
    with override_settings(RM_PROVIDERS=[{"key": "old", "url": "postgresql://u@h/db"}]):
        sync_declared_providers()
    with override_settings(RM_PROVIDERS=[]):
        sync_declared_providers()

    assert Provider.objects.get(key="old").enabled is False


@pytest.mark.parametrize(
    "declared",
    [
        [{"url": "postgresql://u@h/db"}],
        [{"key": "x", "url": "oracle://u@h/db"}],
        ["nonsense"],
        [{"key": "x", "url": "postgresql://u@h/db?bogus=1"}],
        [{"key": "x", "class": "mysql", "options": {"name_prefix": "Bad-"}}],
        [{"key": "x", "url": "postgresql://u@h/db?sslmode=bogus"}],
        [{"key": "x", "url": "postgresql://u@h/db?public_port=-1"}],
        [{"key": "x", "class": "postgresql", "options": {"database": "\u0000"}}],
        [{"key": "x", "class": "postgresql", "port": 99999}],
        [{"key": "x", "class": "postgresql", "host": "127.0.0.1:5432"}],
        [{"key": "x", "class": "postgresql", "host": "bad host!"}],
        [{"key": "x", "class": "postgresql", "allowed_scopes": ["TEAM A", 1]}],
    ],
)
def test_bad_declarations_are_clear_errors(db, declared):
    with override_settings(RM_PROVIDERS=declared), pytest.raises(InvalidInput):
        sync_declared_providers()


def test_a_declared_key_differing_in_case_only_from_another_is_refused(db):
    with override_settings(RM_PROVIDERS=[{"key": "postgresql", "url": "postgresql://u@h/db"}]):
        sync_declared_providers()

    with (override_settings(RM_PROVIDERS=[{"key": "POSTGRESQL", "url": "postgresql://u@h/db"}]),
          pytest.raises(InvalidInput, match="another provider instance has this key")):
        sync_declared_providers()
    assert list(Provider.objects.values_list("key", flat=True)) == ["postgresql"]


@override_settings(RM_PROVIDERS=[
    {"key": "x", "url": "postgresql://u@h/db?sslmode=require&public_port=6432"}])
def test_declared_options_given_as_text_are_read_as_their_kind(db):
    [provider] = sync_declared_providers()

    assert provider.options == {"database": "db", "sslmode": "require", "public_port": "6432"}


def test_check_resources_reports_and_repairs(make_client, mysql_provider):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = client.post(TEAM_A, {"provider": "mysql", "name": "orders"}, format="json").json()
    with mysql_admin_connect() as conn, conn.cursor() as cursor:
        cursor.execute("DROP USER %s@'%%'", (resource["credentials"]["username"],))

    failing = StringIO()
    with pytest.raises(CommandError) as excinfo:  # exit status 1: a resource fails
        call_command("check_resources", "--no-repair", "--json", stdout=failing)
    repaired = StringIO()
    call_command("check_resources", "--scope", "team-a", stdout=repaired)
    healthy = StringIO()
    call_command("check_resources", "--only-failing", stdout=healthy)

    assert excinfo.value.returncode == 1
    [row] = json.loads(failing.getvalue())["resources"]
    assert row["ok"] is False and row["name"] == "orders"
    assert "1 checked, 0 failing, 1 repaired" in repaired.getvalue()
    assert "0 checked, 0 failing" in healthy.getvalue()


@override_settings(
    RM_PROVIDER_POSTGRESQL_URL="",
    RM_PROVIDER_MYSQL_URL="",
    RM_PROVIDER_MONGODB_URL="mongodb://rm_admin:pw@mongo.internal:27017/admin",
    RM_PROVIDERS=[],
)
def test_a_declaration_url_path_sets_the_class_own_option(db):
    [mongo] = sync_declared_providers()

    assert (mongo.key, mongo.provider_class, mongo.port) == ("mongodb", "mongodb", 27017)
    assert mongo.options == {"auth_source": "admin"}
