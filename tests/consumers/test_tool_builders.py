"""SQLPad, Metabase, Superset and Dremio builders against local fakes of their REST APIs."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest

from consumers.builders.base import CHECKED, CREATED, DELETED, UPDATED, DeliveryError, ResourceEvent
from consumers.builders.dremio import DremioBuilder
from consumers.builders.metabase import MetabaseBuilder
from consumers.builders.registry import BUILDERS
from consumers.builders.sqlpad import SQLPadBuilder
from consumers.builders.superset import SupersetBuilder, rison_string
from consumers.builders.tool_http import ToolBuilder
from providers.adapters.base import Credentials
from tests.support.toolfakes import (
    SESSION,
    TOOL_PASSWORD,
    TOOL_TOKEN,
    FakeDremio,
    FakeMetabase,
    FakeSQLPad,
    FakeSQLPad3,
    FakeSuperset,
    FakeTool,
)

PASSWORD = "s3cr3t/p@ss:wörd!"
PG = Credentials("rm_k7x2q9f3m1ab", PASSWORD, host="db.example.com", port=5432,
                 database="rm_k7x2q9f3m1ab",
                 uri=f"postgresql://rm_k7x2q9f3m1ab:{quote(PASSWORD, safe='')}"
                     "@db.example.com:5432/rm_k7x2q9f3m1ab")
MYSQL = replace(PG, port=3306, uri=PG.uri.replace("postgresql://", "mysql://").replace(
    ":5432/", ":3306/"))
MONGO = replace(PG, port=27017, uri=PG.uri.replace("postgresql://", "mongodb://").replace(
    ":5432/", ":27017/") + "?authSource=rm_k7x2q9f3m1ab&tls=true&replicaSet=rs0")
S3 = Credentials("AKIAEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCY", host="minio.example.com",
                 port=9000, database="rm-k7x2q9f3m1ab",
                 uri="s3://AKIAEXAMPLEKEY:wJalrXUtnFEMI%2FK7MDENG%2BbPxRfiCY"
                     "@minio.example.com:9000/rm-k7x2q9f3m1ab")
RESOURCE = {"id": "3f2a9c1e-7b4d-4e0a-9a43-2c1d5e6f7a8b", "name": "orders", "type": "sql",
            "provider": "pg-main", "managed": True, "status": "ready", "tags": []}
TYPES = {"postgresql": "sql", "mysql": "sql", "mongodb": "nosql", "s3": "object"}
CREDENTIALS = {"postgresql": PG, "mysql": MYSQL, "mongodb": MONGO, "s3": S3}


def event(name: str = CREATED, provider_class: str = "postgresql", *,
          credentials: Credentials | None = None, resource_type: str | None = None,
          ) -> ResourceEvent:
    if credentials is None and name != DELETED:
        credentials = CREDENTIALS[provider_class]
    resource = {**RESOURCE, "type": resource_type or TYPES.get(provider_class, "sql")}
    return ResourceEvent(id=7, name=name, scope="acme", resource=resource,
                         provider_class=provider_class, actor="alice",
                         occurred_at="2025-01-01T00:00:00Z", credentials=credentials)


def secrets_of(*credentials: Credentials) -> list[str]:
    values = [TOOL_PASSWORD, TOOL_TOKEN, SESSION]
    for each in credentials:
        values += [each.password, each.uri, quote(each.password, safe="")]
    return values


def assert_no_secret(text: str, *credentials: Credentials) -> None:
    for secret in secrets_of(*(credentials or (PG,))):
        assert secret not in text


@dataclass(frozen=True)
class Tool:
    builder: type[ToolBuilder]
    fake: type[FakeTool]
    login: dict[str, Any]
    #: Where the stored connection keeps its name and its password.
    name_of: Callable[[dict[str, Any]], str]
    password_of: Callable[[dict[str, Any]], str]
    #: Token configuration and the header it sends; None: the tool has no tokens.
    token: dict[str, Any] | None = None
    token_header: tuple[str, str] = ("", "")
    #: (resource type, provider class) pairs the builder must ignore.
    unsupported: tuple[tuple[str, str], ...] = field(default=())
    expected_name: str = "acme/orders (3f2a9c1e)"


TOOLS = {
    "sqlpad": Tool(
        SQLPadBuilder, FakeSQLPad, {"email": "admin@example.com", "password": TOOL_PASSWORD},
        name_of=lambda item: item["name"], password_of=lambda item: item["data"]["password"],
        token={"api_token": TOOL_TOKEN}, token_header=("Authorization", f"Bearer {TOOL_TOKEN}"),
        unsupported=(("nosql", "mongodb"), ("object", "s3")),
    ),
    "sqlpad3": Tool(
        SQLPadBuilder, FakeSQLPad3, {"email": "admin@example.com", "password": TOOL_PASSWORD},
        name_of=lambda item: item["name"], password_of=lambda item: item["password"],
        unsupported=(("nosql", "mongodb"), ("object", "s3")),
    ),
    "metabase": Tool(
        MetabaseBuilder, FakeMetabase,
        {"username": "admin@example.com", "password": TOOL_PASSWORD},
        name_of=lambda item: item["name"], password_of=lambda item: item["details"]["password"],
        token={"api_key": TOOL_TOKEN}, token_header=("x-api-key", TOOL_TOKEN),
        unsupported=(("object", "s3"),),
    ),
    "superset": Tool(
        SupersetBuilder, FakeSuperset, {"username": "admin", "password": TOOL_PASSWORD},
        name_of=lambda item: item["database_name"],
        password_of=lambda item: unquote(urlsplit(item["sqlalchemy_uri"]).password or ""),
        unsupported=(("nosql", "mongodb"), ("object", "s3")),
    ),
    "dremio": Tool(
        DremioBuilder, FakeDremio, {"username": "admin", "password": TOOL_PASSWORD},
        name_of=lambda item: item["name"], password_of=lambda item: item["config"]["password"],
        token={"token": TOOL_TOKEN}, token_header=("Authorization", f"Bearer {TOOL_TOKEN}"),
        unsupported=(("sql", "sqlserver"), ("nosql", "cassandra")),
        expected_name="acme-orders-3f2a9c1e",
    ),
}


@pytest.fixture(params=TOOLS, ids=str)
def tool(request: pytest.FixtureRequest) -> Tool:
    return TOOLS[request.param]


@pytest.fixture
def fake(tool: Tool) -> Iterator[FakeTool]:
    with tool.fake() as server:
        yield server


def build(tool: Tool, url: str, **config: Any) -> ToolBuilder:
    return tool.builder({"url": url, **tool.login, "timeout": 5, **config})


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- the flow every tool follows --------------------------------------------------------------


def test_registered(tool: Tool) -> None:
    assert BUILDERS[tool.builder.key] is tool.builder
    assert tool.builder.properties["url"].required
    assert all(tool.builder.properties[key].secret for key in ("password", *(tool.token or {})))


def test_created_then_updated_then_deleted(tool: Tool, fake: FakeTool) -> None:
    builder = build(tool, fake.url)

    builder.deliver(event(CREATED))
    [(created_id, item)] = fake.items.items()
    assert tool.name_of(item) == tool.expected_name
    assert tool.password_of(item) == PASSWORD

    rotated = replace(PG, password="n3w-pa55", uri=PG.uri.replace(quote(PASSWORD, safe=""),
                                                                   "n3w-pa55"))
    fake.seen.clear()
    builder.deliver(event(UPDATED, credentials=rotated))
    builder.deliver(event(CHECKED, credentials=rotated))
    [(same_id, item)] = fake.items.items()
    assert same_id == created_id
    assert tool.password_of(item) == "n3w-pa55"
    assert [seen.method for seen in fake.seen].count("PUT") == 2

    fake.seen.clear()
    builder.deliver(event(DELETED))
    assert fake.items == {}
    assert [seen.method for seen in fake.seen].count("DELETE") == 1

    fake.seen.clear()
    builder.deliver(event(DELETED))  # already gone: nothing to do, no error
    assert "DELETE" not in [seen.method for seen in fake.seen]


def test_unsupported_resources_and_events_are_ignored(tool: Tool, fake: FakeTool) -> None:
    builder = build(tool, fake.url)
    for resource_type, provider_class in tool.unsupported:
        builder.deliver(event(provider_class=provider_class, resource_type=resource_type,
                              credentials=PG))
    builder.deliver(event("resource.renamed"))
    assert fake.seen == []


def test_event_without_credentials_is_refused(tool: Tool, fake: FakeTool) -> None:
    no_credentials = replace(event(CREATED), credentials=None)
    with pytest.raises(DeliveryError) as caught:
        build(tool, fake.url).deliver(no_credentials)
    assert not caught.value.transient
    assert fake.seen == []


def test_token_instead_of_login(tool: Tool, fake: FakeTool) -> None:
    if tool.token is None:
        pytest.skip(f"{tool.builder.label} has no API tokens")
    builder = tool.builder({"url": fake.url, **tool.token})
    builder.deliver(event(CREATED))
    assert len(fake.items) == 1
    name, value = tool.token_header
    assert all(seen.headers.get(name) == value for seen in fake.seen)
    assert not any("login" in seen.path or "signin" in seen.path or "session" in seen.path
                   for seen in fake.seen)


def test_neither_login_nor_token_configured(tool: Tool, fake: FakeTool) -> None:
    with pytest.raises(DeliveryError) as caught:
        tool.builder({"url": fake.url}).deliver(event(CREATED))
    assert not caught.value.transient
    assert fake.seen == []


# -- failures: permanent or transient, never with a secret ------------------------------------


def test_refused_login_is_permanent(tool: Tool, fake: FakeTool) -> None:
    builder = build(tool, fake.url, password="wrong-" + TOOL_PASSWORD)
    with pytest.raises(DeliveryError) as caught:
        builder.deliver(event(CREATED))
    assert not caught.value.transient
    assert "HTTP 401" in caught.value.message
    assert_no_secret(str(caught.value))
    assert "wrong-" not in caught.value.message
    assert fake.items == {}


@pytest.mark.parametrize(("status", "transient"), [(401, False), (403, False), (500, True),
                                                    (502, True), (503, True), (429, True)])
def test_status_mapping(tool: Tool, fake: FakeTool, status: int, transient: bool) -> None:
    fake.outage = (status, {"message": f"nope: {TOOL_PASSWORD} {PASSWORD} {PG.uri}"})
    with pytest.raises(DeliveryError) as caught:
        build(tool, fake.url).deliver(event(CREATED))
    assert caught.value.transient is transient
    assert f"HTTP {status}" in caught.value.message
    assert "nope" in caught.value.message  # the tool's reason, secrets removed
    assert_no_secret(str(caught.value))


@pytest.mark.parametrize(("status", "transient"), [(400, False), (422, False), (409, True)])
def test_refused_write_echoing_the_payload(tool: Tool, fake: FakeTool, status: int,
                                           transient: bool) -> None:
    fake.fail_writes = status
    with pytest.raises(DeliveryError) as caught:
        build(tool, fake.url).deliver(event(CREATED))
    assert caught.value.transient is transient
    assert "cannot save" in caught.value.message
    assert_no_secret(str(caught.value))


def test_unreachable_tool_is_transient(tool: Tool) -> None:
    with pytest.raises(DeliveryError) as caught:
        build(tool, f"http://127.0.0.1:{closed_port()}").deliver(event(CREATED))
    assert caught.value.transient
    assert "cannot reach" in caught.value.message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_html_instead_of_json_is_permanent(tool: Tool, fake: FakeTool) -> None:
    fake.outage = (200, b"<html><body>Welcome</body></html>")
    with pytest.raises(DeliveryError) as caught:
        build(tool, fake.url).deliver(event(CREATED))
    assert not caught.value.transient
    assert "other than JSON" in caught.value.message


def test_an_answer_of_another_shape_says_what_came_back(tool: Tool, fake: FakeTool) -> None:
    fake.outage = (200, [{"password": "pw-in-answer", "note": TOOL_PASSWORD}, "odd"])
    with pytest.raises(DeliveryError) as caught:
        build(tool, fake.url).deliver(event(CREATED))
    message = caught.value.message
    assert not caught.value.transient
    assert message.startswith(f"{tool.builder.label} at 127.0.0.1 answered ")  # the request
    assert '"odd"' in message and "expected" in message  # what came back, what was not
    assert "pw-in-answer" not in message
    assert_no_secret(message)


def test_logs_hold_no_secret(tool: Tool, fake: FakeTool, caplog: pytest.LogCaptureFixture
                             ) -> None:
    caplog.set_level(logging.DEBUG)
    builder = build(tool, fake.url)
    for name in (CREATED, UPDATED, DELETED):
        builder.deliver(event(name))
    fake.outage = (500, {"message": PASSWORD})
    with pytest.raises(DeliveryError):
        builder.deliver(event(CREATED))
    assert tool.expected_name in caplog.text
    assert_no_secret(caplog.text)


# -- what each tool receives ------------------------------------------------------------------


def test_sqlpad_requests() -> None:
    with FakeSQLPad() as fake:
        builder = build(TOOLS["sqlpad"], fake.url)
        builder.deliver(event(CREATED, "postgresql"))
        builder.deliver(event(CREATED, "mysql"))
        assert fake.lines()[:3] == ["POST /api/signin", "GET /api/connections",
                                    "POST /api/connections"]
        signin, *rest = fake.seen
        assert signin.body == {"email": "admin@example.com", "password": TOOL_PASSWORD}
        assert all(seen.cookies == {"sqlpad.sid": SESSION} for seen in rest[:2])
        postgres = fake.seen[2].body
        assert postgres == {
            "name": "acme/orders (3f2a9c1e)", "driver": "postgres",
            "data": {"host": "db.example.com", "port": "5432", "database": "rm_k7x2q9f3m1ab",
                     "username": "rm_k7x2q9f3m1ab", "password": PASSWORD},
        }
        # The same resource name with another class is the same connection: updated.
        assert fake.seen[-1].line.startswith("PUT /api/connections/")
        assert fake.seen[-1].body["driver"] == "mysql2"
        assert fake.seen[-1].body["data"]["port"] == "3306"


def test_sqlpad3_requests() -> None:
    with FakeSQLPad3() as fake:
        builder = build(TOOLS["sqlpad3"], fake.url)
        builder.deliver(event(CREATED, "postgresql"))
        assert fake.seen[2].body == {
            "name": "acme/orders (3f2a9c1e)", "driver": "postgres", "host": "db.example.com",
            "port": "5432", "database": "rm_k7x2q9f3m1ab", "username": "rm_k7x2q9f3m1ab",
            "password": PASSWORD,
        }
        builder.deliver(event(UPDATED, "mysql"))
        assert fake.seen[-1].line == "PUT /api/connections/c1"
        assert fake.seen[-1].body["driver"] == "mysql"
        assert fake.items["c1"]["port"] == "3306"


def test_sqlpad3_refusals_in_a_200_answer_fail_the_delivery() -> None:
    with FakeSQLPad3() as fake:
        fake.write_error = f"Problem saving connection {PASSWORD}"
        with pytest.raises(DeliveryError) as caught:
            build(TOOLS["sqlpad3"], fake.url).deliver(event(CREATED))
        assert not caught.value.transient
        assert caught.value.message == (
            "SQLPad at 127.0.0.1 refused POST /api/connections: Problem saving connection ***")


def test_metabase_requests() -> None:
    with FakeMetabase() as fake:
        builder = build(TOOLS["metabase"], fake.url)
        builder.deliver(event(CREATED, "postgresql"))
        assert fake.lines() == ["POST /api/session", "GET /api/database", "POST /api/database"]
        assert fake.seen[2].headers["X-Metabase-Session"] == SESSION
        assert fake.seen[2].body == {
            "name": "acme/orders (3f2a9c1e)", "engine": "postgres",
            "details": {"host": "db.example.com", "port": 5432, "dbname": "rm_k7x2q9f3m1ab",
                        "user": "rm_k7x2q9f3m1ab", "password": PASSWORD, "ssl": False},
        }
        builder.deliver(event(UPDATED, "mysql"))
        assert fake.seen[-1].line == "PUT /api/database/1"
        assert fake.seen[-1].body["engine"] == "mysql"
        builder.deliver(event(UPDATED, "mongodb"))
        assert fake.seen[-1].body["engine"] == "mongo"
        assert fake.seen[-1].body["details"] == {
            "host": "db.example.com", "port": 27017, "dbname": "rm_k7x2q9f3m1ab",
            "user": "rm_k7x2q9f3m1ab", "pass": PASSWORD, "authdb": "rm_k7x2q9f3m1ab",
            "ssl": True, "additional-options": "replicaSet=rs0",
        }
        builder.deliver(event(DELETED, "mongodb"))
        assert fake.seen[-1].line == "DELETE /api/database/1"


def test_superset_requests() -> None:
    with FakeSuperset() as fake:
        builder = build(TOOLS["superset"], fake.url)
        builder.deliver(event(CREATED, "postgresql"))
        assert fake.lines() == ["POST /api/v1/security/login", "GET /api/v1/database/",
                                "GET /api/v1/security/csrf_token/", "POST /api/v1/database/"]
        login, listing, _, create = fake.seen
        assert login.body == {"username": "admin", "password": TOOL_PASSWORD, "provider": "db",
                              "refresh": False}
        assert listing.query["q"] == ("(filters:!((col:database_name,opr:eq,"
                                      "value:'acme/orders (3f2a9c1e)')))")
        assert "X-CSRFToken" not in listing.headers  # reads need no CSRF token
        assert create.headers["X-CSRFToken"] == FakeSuperset.CSRF
        assert create.headers["Referer"] == fake.url + "/"
        assert create.body == {
            "database_name": "acme/orders (3f2a9c1e)",
            "sqlalchemy_uri": "postgresql+psycopg2://rm_k7x2q9f3m1ab:"
                              f"{quote(PASSWORD, safe='')}@db.example.com:5432/rm_k7x2q9f3m1ab",
            "expose_in_sqllab": True,
        }
        builder.deliver(event(UPDATED, "mysql"))
        assert fake.seen[-1].line == "PUT /api/v1/database/1"
        assert fake.seen[-1].body["sqlalchemy_uri"].startswith("mysql+pymysql://rm_k7x2q9f3m1ab:")
        builder.deliver(event(DELETED, "mysql"))
        assert fake.lines()[-2:] == ["GET /api/v1/security/csrf_token/",
                                     "DELETE /api/v1/database/1"]


def test_rison_strings() -> None:
    assert rison_string("a/b (c)") == "'a/b (c)'"
    assert rison_string("it's!") == "'it!'s!!'"


def test_superset_finds_names_with_rison_specials() -> None:
    with FakeSuperset() as fake:
        builder = build(TOOLS["superset"], fake.url)
        odd = replace(event(CREATED), scope="o'neil!")
        builder.deliver(odd)
        builder.deliver(replace(odd, name=UPDATED))
        [item] = fake.items.values()
        assert item["database_name"] == "o'neil!/orders (3f2a9c1e)"


def test_dremio_requests() -> None:
    with FakeDremio() as fake:
        builder = build(TOOLS["dremio"], fake.url)
        builder.deliver(event(CREATED, "postgresql"))
        assert fake.lines() == ["POST /apiv2/login",
                                "GET /api/v3/catalog/by-path/acme-orders-3f2a9c1e",
                                "POST /api/v3/catalog"]
        assert fake.seen[0].body == {"userName": "admin", "password": TOOL_PASSWORD}
        assert fake.seen[2].headers["Authorization"] == f"_dremio{SESSION}"
        assert fake.seen[2].body == {
            "entityType": "source", "name": "acme-orders-3f2a9c1e", "type": "POSTGRES",
            "config": {"hostname": "db.example.com", "port": "5432",
                       "databaseName": "rm_k7x2q9f3m1ab", "authenticationType": "MASTER",
                       "username": "rm_k7x2q9f3m1ab", "password": PASSWORD},
        }
        builder.deliver(event(UPDATED, "postgresql"))
        update = fake.seen[-1]
        assert update.line == "PUT /api/v3/catalog/src-1"
        assert (update.body["id"], update.body["tag"]) == ("src-1", "v1")
        assert update.body["config"]["password"] == PASSWORD  # not Dremio's placeholder
        builder.deliver(event(DELETED))
        assert fake.seen[-1].line == "DELETE /api/v3/catalog/src-1"
        assert fake.seen[-1].query == {"tag": "v2"}


def test_dremio_mysql_mongo_and_s3_configs() -> None:
    with FakeDremio() as fake:
        builder = build(TOOLS["dremio"], fake.url)
        builder.deliver(event(CREATED, "mysql"))
        assert fake.seen[-1].body["type"] == "MYSQL"
        assert fake.seen[-1].body["config"] == {
            "hostname": "db.example.com", "port": "3306", "database": "rm_k7x2q9f3m1ab",
            "authenticationType": "MASTER", "username": "rm_k7x2q9f3m1ab", "password": PASSWORD,
        }
        builder.deliver(event(UPDATED, "mongodb"))
        assert fake.seen[-1].body["type"] == "MONGO"
        assert fake.seen[-1].body["config"] == {
            "hostList": [{"hostname": "db.example.com", "port": 27017}],
            "authDatabase": "rm_k7x2q9f3m1ab", "useSsl": True,
            "authenticationType": "MASTER", "username": "rm_k7x2q9f3m1ab", "password": PASSWORD,
            "propertyList": [{"name": "replicaSet", "value": "rs0"}],
        }
        builder.deliver(event(UPDATED, "s3"))
        assert fake.seen[-1].body["type"] == "S3"
        assert fake.seen[-1].body["config"] == {
            "credentialType": "ACCESS_KEY", "accessKey": "AKIAEXAMPLEKEY",
            "accessSecret": S3.password, "secure": True,
            "whitelistedBuckets": ["rm-k7x2q9f3m1ab"], "compatibilityMode": True,
            "propertyList": [{"name": "fs.s3a.endpoint", "value": "minio.example.com:9000"},
                             {"name": "fs.s3a.path.style.access", "value": "true"}],
        }
        aws = replace(S3, host="s3.eu-west-1.amazonaws.com", port=443)
        tool_builder = build(TOOLS["dremio"], fake.url, s3_secure=False)
        tool_builder.deliver(event(UPDATED, "s3", credentials=aws))
        config = fake.seen[-1].body["config"]
        assert "compatibilityMode" not in config and "propertyList" not in config
        assert config["secure"] is False


def test_dremio_source_names_are_safe_and_stable() -> None:
    with FakeDremio() as fake:
        builder = build(TOOLS["dremio"], fake.url)
        odd = replace(event(CREATED), scope="team.a@b/c", resource={**RESOURCE,
                                                                  "name": 'x:"y" [z]'})
        builder.deliver(odd)
        builder.deliver(replace(odd, name=UPDATED))
        [item] = fake.items.values()
        assert item["name"] == "team_a_b_c-x_y_z_-3f2a9c1e"
        assert fake.seen[-1].line.startswith("PUT ")


def test_s3_errors_hide_the_secret_key() -> None:
    with FakeDremio() as fake:
        fake.fail_writes = 400
        with pytest.raises(DeliveryError) as caught:
            build(TOOLS["dremio"], fake.url).deliver(event(CREATED, "s3"))
        assert "cannot save" in caught.value.message
        assert_no_secret(str(caught.value), S3)
