"""The consumers and builders API: the permission matrix, validation, and secrets that
never leave their encrypted column."""

from __future__ import annotations

import logging

import pytest
from django.db import connection

from audit.models import AuditEntry
from consumers.models import Consumer
from resourcemanager.identity.roles import Role
from tests.consumers.conftest import SECRET, TEAM_A, add_consumer, add_webhook, create_resource

ROLES = [Role.ADMIN, Role.RESOURCE_ADMIN, Role.CONSUMER_ADMIN, Role.USER]
VIEWERS = {Role.ADMIN, Role.CONSUMER_ADMIN, Role.USER}
MANAGERS = {Role.ADMIN, Role.CONSUMER_ADMIN}
NO_ROLE = "NO_ROLE"

#: (name, method, path, body, success status, roles allowed)
ROUTES = [
    ("list", "get", "consumers", None, 200, VIEWERS),
    ("retrieve", "get", "consumers/{id}", None, 200, VIEWERS),
    ("create", "post", "consumers", {"builder": "log", "name": "new"}, 201, MANAGERS),
    ("update", "patch", "consumers/{id}", {"tags": ["x"]}, 200, MANAGERS),
    ("sync", "post", "consumers/{id}/sync", None, 202, MANAGERS),
    ("delete", "delete", "consumers/{id}", None, 204, MANAGERS),
    ("builders", "get", "builders", None, 200, set(ROLES)),
]


def call(client, method: str, path: str, body, *, form: str, scope: str = "team-a"):
    if form == "path":
        return getattr(client, method)(f"/api/c/{scope}/{path}", body, format="json")
    return getattr(client, method)(f"/api/{path}", body, format="json", HTTP_X_SCOPE=scope)


@pytest.mark.parametrize("form", ["path", "header"])
@pytest.mark.parametrize("role", [*ROLES, NO_ROLE])
@pytest.mark.parametrize("route", ROUTES, ids=[r[0] for r in ROUTES])
def test_the_permission_matrix_on_every_consumer_route(make_client, owner, route, role, form):
    _, method, path, body, success, allowed = route
    consumer = add_consumer(owner, builder="log", name="existing")
    client = make_client() if role == NO_ROLE else make_client(team_a=role)

    response = call(client, method, path.format(id=consumer["id"]), body, form=form)

    if role in allowed:
        assert response.status_code == success, response.content
    else:
        assert response.status_code == 403, response.content
        assert response.json()["code"] == "forbidden"
        assert Consumer.objects.get().tags == []  # nothing changed
        assert Consumer.objects.count() == 1


@pytest.mark.parametrize("form", ["path", "header"])
@pytest.mark.parametrize("route", ROUTES, ids=[r[0] for r in ROUTES])
def test_a_foreign_scope_s_consumer_is_out_of_reach(make_client, owner, route, form):
    _, method, path, body, _, _ = route
    foreign = add_consumer(owner, "team-b", builder="log", name="bravo-only-zq")
    client = make_client(team_a=Role.ADMIN)

    in_own_scope = call(client, method, path.format(id=foreign["id"]), body, form=form)
    in_foreign_scope = call(client, method, path.format(id=foreign["id"]), body, form=form,
                            scope="team-b")

    assert "bravo-only-zq" not in in_own_scope.content.decode()
    if "{id}" in path:
        assert in_own_scope.status_code == 404
    assert in_foreign_scope.status_code == 403
    assert Consumer.objects.filter(scope="team-b").values_list("name", "tags").get() == (
        "bravo-only-zq", []
    )


def test_builders_describe_their_properties(owner):
    builders = {b["key"]: b for b in owner.get(f"{TEAM_A}/builders").json()}

    assert {"log", "webhook"} <= set(builders)
    webhook = builders["webhook"]
    assert webhook["resource_types"] == ["nosql", "object", "sql"]
    props = {p["name"]: p for p in webhook["properties"]}
    assert props["secret"]["secret"] and props["secret"]["required"]
    assert props["url"]["kind"] == "url"
    assert props["include_credentials"]["default"] is False


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"builder": "nope", "name": "x"}, "unknown_builder", "builder"),
    ({"builder": "log", "name": "bad name"}, "invalid_name", "name"),
    ({"builder": "log", "name": "x", "tags": ["UPPER"]}, "invalid_tags", "tags"),
    ({"builder": "log", "name": "x", "resource_types": ["graph"]}, "invalid_input",
     "resource_types"),
    ({"builder": "log", "name": "x", "properties": {"unknown": 1}}, "invalid_properties",
     "properties"),
    ({"builder": "webhook", "name": "x", "properties": {"url": "http://h/"}},
     "invalid_properties", "properties"),  # the secret is required
    ({"builder": "webhook", "name": "x", "properties": {"url": "ftp://h/", "secret": "s"}},
     "invalid_properties", "properties"),
    ({"builder": "webhook", "name": "x",
      "properties": {"url": "http://h/", "secret": "s", "timeout": "10"}},
     "invalid_properties", "properties"),
    ({"builder": "log", "name": "x", "propertes": {}}, "invalid_input", "propertes"),
    ({"builder": "log", "name": 123}, "invalid_input", "name"),
    ({"builder": "log", "name": "x", "enabled": "maybe"}, "invalid_input", "enabled"),
])
def test_invalid_consumers_are_refused_with_a_stable_code(owner, body, code, field):
    response = owner.post(f"{TEAM_A}/consumers", body, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert field in response.json()["fields"]
    assert not Consumer.objects.exists()


def test_a_name_is_unique_per_scope(owner):
    add_consumer(owner, builder="log", name="twin")
    add_consumer(owner, "team-b", builder="log", name="twin")

    again = owner.post(f"{TEAM_A}/consumers", {"builder": "log", "name": "twin"}, format="json")

    assert (again.status_code, again.json()["code"]) == (409, "name_taken")


def test_secrets_are_masked_and_kept_when_left_empty(owner, webhook_server):
    consumer = add_webhook(owner, webhook_server)
    url = f"{TEAM_A}/consumers/{consumer['id']}"

    assert consumer["properties"]["secret"] == "********"
    assert consumer["properties"]["url"] == webhook_server.url
    for secret in ("", "********", None):
        owner.patch(url, {"properties": {"secret": secret, "timeout": 5}}, format="json")
        assert Consumer.objects.get().properties["secret"] == SECRET
    assert Consumer.objects.get().properties["timeout"] == 5

    changed = owner.patch(url, {"properties": {"secret": "new-secret"}}, format="json")

    assert changed.json()["properties"]["secret"] == "********"
    assert Consumer.objects.get().properties["secret"] == "new-secret"


def test_secrets_never_reach_responses_audit_logs_or_clear_columns(
    owner, pg_provider, webhook_server, caplog
):
    caplog.set_level(logging.DEBUG)
    consumer = add_webhook(owner, webhook_server, include_credentials=True)
    resource = create_resource(owner)
    password = resource["credentials"]["password"]
    url = f"{TEAM_A}/consumers/{consumer['id']}"
    bodies = [
        owner.get(f"{TEAM_A}/consumers").content,
        owner.get(url).content,
        owner.patch(url, {"properties": {"secret": "rotated-whsec-canary"}},
                    format="json").content,
        owner.post(f"{url}/sync").content,
        owner.patch(url, {"properties": {"timeout": "x"}}, format="json").content,
    ]
    sent = webhook_server.requests[0].json()["credentials"]["password"]
    secrets = [SECRET, "rotated-whsec-canary", password, sent]

    assert sent != password  # a login of the consumer's own
    for secret in secrets:
        assert all(secret.encode() not in body for body in bodies)
        assert secret not in caplog.text
        for entry in AuditEntry.objects.values():
            assert secret not in repr(entry)
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"consumer.create", "consumer.update", "consumer.sync", "consumer.deliver"} <= actions
    with connection.cursor() as cursor:
        for table in ("consumers_consumer", "consumers_delivery"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608
            for row in cursor.fetchall():
                for secret in secrets:
                    assert secret not in repr(row)
        cursor.execute("SELECT properties FROM consumers_consumer")
        assert cursor.fetchone()[0].startswith("rm1:")  # a token under a data key


def test_deleting_a_consumer_forgets_it_and_its_deliveries(owner, pg_provider):
    consumer = add_consumer(owner, builder="log", name="log")
    create_resource(owner)

    response = owner.delete(f"{TEAM_A}/consumers/{consumer['id']}")

    assert response.status_code == 204
    assert owner.get(f"{TEAM_A}/consumers/{consumer['id']}").status_code == 404
    assert not Consumer.objects.exists()
    assert AuditEntry.objects.filter(action="consumer.delete").exists()
