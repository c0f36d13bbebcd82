"""MongoDBAdapter: wire-level tests always, real-server tests where ``MONGODB_URL`` is set.

There is no mongod on the CI machines. The wire tests run the real pymongo against
``FakeMongod`` (tests/support/mongowire.py): mockupdb answering the handshake,
SCRAM-SHA-256 against the passwords it stores, and the catalog and user commands on an
in-memory model. They prove which commands the adapter sends, to which database, as whom
(the admin in ``auth_source``, the tenant in its own database), with which roles and
password; that it converges on retries (``UserAlreadyExists``, ``UserNotFound``,
``NamespaceExists``); how it maps server errors, refused logins and an unreachable server;
and that no secret leaves it. They cannot prove that MongoDB enforces what the commands
ask for (that ``dbOwner`` on one database reaches nothing else, that the URI works with a
real client, that a dropped database is really gone): the ``real_*`` tests do, against a
real mongod with an admin user, e.g.
``MONGODB_URL=mongodb://root:pw@127.0.0.1:27017/?authSource=admin``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure
from pymongo.uri_parser import parse_uri

from providers.adapters import mongodb as mongodb_module
from providers.adapters.base import Credentials, InstanceConfig, ProviderError
from providers.adapters.mongodb import MARKER_COLLECTION, MongoDBAdapter
from providers.adapters.naming import new_backend_name, new_password
from providers.adapters.registry import adapter_class
from providers.services import declared_providers
from resourcemanager.resources.models import Resource
from tests.support.mongowire import FakeMongod
from tests.support.naming import issued_names

MONGODB_URL = os.environ.get("MONGODB_URL", "")
UNAUTHORIZED = 13


def owner(name: str) -> list[dict[str, str]]:
    return [{"role": "dbOwner", "db": name}]


def config_for(server: FakeMongod, **options) -> InstanceConfig:
    return InstanceConfig(host=server.host, port=server.port, username=server.admin_user,
                          password=server.admin_password, options=options, connect_timeout=2)


@pytest.fixture
def adapter(fake_mongod: FakeMongod) -> MongoDBAdapter:
    return MongoDBAdapter(config_for(fake_mongod, auth_source="admin"))


@pytest.fixture
def created(adapter: MongoDBAdapter, fake_mongod: FakeMongod) -> Credentials:
    """A resource made by the adapter; the server's log starts empty after it."""
    credentials = adapter.create(new_backend_name(), new_password(), {})
    fake_mongod.clear()
    return credentials


def tenant(server: FakeMongod, name: str) -> dict:
    return server.users[(name, name)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_secret_free(error: ProviderError, *secrets: str) -> None:
    assert error.__cause__ is None and error.__suppress_context__  # raised ``from None``
    for secret in secrets:
        assert secret not in str(error) and secret not in repr(error.args)


# -- metadata and URIs ------------------------------------------------------------------


def test_adapter_metadata() -> None:
    assert adapter_class("mongodb") is MongoDBAdapter
    assert (MongoDBAdapter.key, MongoDBAdapter.resource_type, MongoDBAdapter.uri_scheme,
            MongoDBAdapter.default_port) == ("mongodb", "nosql", "mongodb", 27017)
    assert {"auth_source", "tls", "replica_set"} <= set(MongoDBAdapter.instance_options)


def test_uri_names_the_tenant_database_as_auth_source() -> None:
    config = InstanceConfig(host="10.0.0.5", port=27017, username="x", password="y",
                            options={"public_host": "mongo.example.org", "public_port": "27018"})
    creds = MongoDBAdapter(config).credentials("rm_abc", "p@ss:w/rd?")
    assert (creds.username, creds.database, creds.password) == ("rm_abc", "rm_abc", "p@ss:w/rd?")
    assert (creds.host, creds.port) == ("mongo.example.org", 27018)
    assert creds.uri == ("mongodb://rm_abc:p%40ss%3Aw%2Frd%3F@mongo.example.org:27018/rm_abc"
                         "?authSource=rm_abc")
    assert parse_uri(creds.uri)["password"] == "p@ss:w/rd?"


def test_uri_carries_tls_and_replica_set() -> None:
    config = InstanceConfig(host="::1", port=27017, username="x", password="y",
                            options={"tls": "true", "replica_set": "rs0"})
    uri = MongoDBAdapter(config).credentials("rm_abc", "pw").uri
    assert uri == "mongodb://rm_abc:pw@[::1]:27017/rm_abc?authSource=rm_abc&tls=true&replicaSet=rs0"
    assert parse_uri(uri)["options"]["replicaSet"] == "rs0"


def test_client_options(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[tuple, dict]] = []

    class Refusing:
        def __init__(self, *args, **kwargs) -> None:
            seen.append((args, kwargs))

        @property
        def admin(self):
            raise mongodb_module.ConnectionFailure("h:1: [Errno 111] Connection refused")

        def close(self) -> None:
            pass

    monkeypatch.setattr(mongodb_module, "MongoClient", Refusing)
    config = InstanceConfig(host="h", port=1, username="boss", password="admin-pw",
                            options={"auth_source": "ops", "tls": True,
                                     "tls_ca_file": "/etc/ssl/ca.pem", "replica_set": "rs0"},
                            connect_timeout=3, read_timeout=7)
    with pytest.raises(ProviderError, match=r"^cannot reach MongoDB at h:1: connection refused$"):
        MongoDBAdapter(config).ping()
    (args, kwargs), = seen
    assert args == ("h", 1)
    assert kwargs == {"username": "boss", "password": "admin-pw", "authSource": "ops",
                      "tls": True, "tlsCAFile": "/etc/ssl/ca.pem", "replicaSet": "rs0",
                      "connectTimeoutMS": 3000, "serverSelectionTimeoutMS": 3000,
                      "socketTimeoutMS": 7000,
                      "appname": "resourcemanager"}


def test_declared_by_url(settings) -> None:
    settings.RM_PROVIDERS = []
    settings.RM_PROVIDER_MONGODB_URL = (
        "mongodb://root:p%40ss@mongo.example.org/?auth_source=ops&tls=true&replica_set=rs0")
    declared, = (item for item in declared_providers() if item.key == "mongodb")
    assert (declared.provider_class, declared.host, declared.port) == (
        "mongodb", "mongo.example.org", 27017)
    assert (declared.username, declared.password) == ("root", "p@ss")
    assert declared.options == {"auth_source": "ops", "tls": "true", "replica_set": "rs0"}


# -- create -----------------------------------------------------------------------------


def test_create_makes_marker_then_user_owning_only_its_database(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod
) -> None:
    name, password = new_backend_name(), new_password()

    creds = adapter.create(name, password, {})

    assert fake_mongod.commands() == [(name, "create"), (name, "createUser")]
    marker, create_user = fake_mongod.log
    assert marker.doc == {"create": MARKER_COLLECTION}
    assert create_user.doc["createUser"] == name
    assert create_user.doc["pwd"] == password
    assert create_user.doc["roles"] == owner(name)
    admin = ("admin", fake_mongod.admin_user)
    assert {entry.login for entry in fake_mongod.log} == {admin}
    assert fake_mongod.logins == [(*admin, True)]
    assert fake_mongod.collections[name] == {MARKER_COLLECTION}
    assert tenant(fake_mongod, name) == {"pwd": password, "roles": owner(name)}
    assert creds == adapter.credentials(name, password)
    assert creds.uri.endswith(f"/{name}?authSource={name}")


def test_create_again_updates_password_and_roles(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, created: Credentials
) -> None:
    name, second = created.database, new_password()
    tenant(fake_mongod, name)["roles"] = [{"role": "readAnyDatabase", "db": "admin"}]

    again = adapter.create(name, second, {})

    # NamespaceExists (48) and UserAlreadyExists (51003) are answered, then updateUser.
    assert fake_mongod.commands() == [(name, "create"), (name, "createUser"),
                                      (name, "updateUser")]
    update = fake_mongod.sent("updateUser")[0].doc
    assert (update["updateUser"], update["pwd"], update["roles"]) == (name, second, owner(name))
    assert tenant(fake_mongod, name) == {"pwd": second, "roles": owner(name)}
    assert fake_mongod.collections[name] == {MARKER_COLLECTION}
    assert again.password == second
    assert adapter.check(again, repair=False).ok
    assert adapter.check(created, repair=False).message == (
        f"login {name} rejects its stored password")


@pytest.mark.parametrize("half", ["database only", "user only"])
def test_create_finishes_a_half_done_create(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, half: str
) -> None:
    name, password = new_backend_name(), new_password()
    if half == "database only":
        fake_mongod.collections[name] = {MARKER_COLLECTION}
    else:
        fake_mongod.add_user(name, name, "crashed-attempt", ("dbOwner", name))

    creds = adapter.create(name, password, {})

    assert fake_mongod.collections[name] == {MARKER_COLLECTION}
    assert tenant(fake_mongod, name) == {"pwd": password, "roles": owner(name)}
    assert [key for key in fake_mongod.users if key[1] == name] == [(name, name)]
    assert adapter.check(creds, repair=False).ok


# -- delete -----------------------------------------------------------------------------


def test_delete_drops_user_then_database_and_repeats_harmlessly(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, created: Credentials
) -> None:
    name = created.database

    adapter.delete(name)

    assert fake_mongod.commands() == [(name, "dropUser"), (name, "dropDatabase")]
    assert fake_mongod.log[0].doc == {"dropUser": name}
    assert fake_mongod.log[1].doc["dropDatabase"] == 1
    assert (name, name) not in fake_mongod.users and name not in fake_mongod.collections
    fake_mongod.clear()
    adapter.delete(name)  # UserNotFound (11) is fine; the database is dropped again
    assert fake_mongod.commands() == [(name, "dropUser"), (name, "dropDatabase")]


# -- check ------------------------------------------------------------------------------


def test_check_healthy_logs_in_as_the_tenant(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, created: Credentials
) -> None:
    name = created.database
    for repair in (False, True):
        fake_mongod.clear()
        result = adapter.check(created, repair=repair)
        assert (result.ok, result.repaired) == (True, ())
        assert result.message == "database, login and roles are in order"
        assert fake_mongod.commands() == [("admin", "listDatabases"), (name, "usersInfo"),
                                          (name, "listCollections")]
        listing, users_info, collections = fake_mongod.log
        assert listing.doc["filter"] == {"name": name}
        assert users_info.doc == {"usersInfo": {"user": name, "db": name}}
        assert collections.login == (name, name)  # authSource: the tenant's own database
        assert (name, name, True) in fake_mongod.logins


def test_check_recreates_missing_user(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, created: Credentials
) -> None:
    name = created.database
    del fake_mongod.users[(name, name)]

    result = adapter.check(created, repair=False)
    assert (result.ok, result.message) == (False, f"login {name} does not exist")
    assert fake_mongod.commands() == [("admin", "listDatabases"), (name, "usersInfo")]

    fake_mongod.clear()
    result = adapter.check(created, repair=True)
    assert (result.ok, result.repaired) == (True, ("login re-created",))
    assert result.message == "repaired: login re-created"
    assert fake_mongod.commands() == [("admin", "listDatabases"), (name, "usersInfo"),
                                      (name, "createUser"), (name, "listCollections")]
    assert tenant(fake_mongod, name) == {"pwd": created.password, "roles": owner(name)}


@pytest.mark.parametrize(("roles", "held"), [
    ([{"role": "dbOwner", "db": "X"}, {"role": "readAnyDatabase", "db": "admin"}],
     "dbOwner@X, readAnyDatabase@admin"),
    ([{"role": "read", "db": "X"}], "read@X"),
    ([], "no role"),
])
def test_check_restores_exactly_db_owner(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, created: Credentials,
    roles: list, held: str,
) -> None:
    name = created.database
    tenant(fake_mongod, name)["roles"] = [{**role, "db": role["db"].replace("X", name)}
                                          for role in roles]

    result = adapter.check(created, repair=False)
    assert not result.ok
    assert result.message == (f"login {name} holds {held.replace('X', name)}, "
                              f"not exactly dbOwner on {name}")

    fake_mongod.clear()
    result = adapter.check(created, repair=True)
    assert (result.ok, result.repaired) == (True, ("roles restored",))
    update = fake_mongod.sent("updateUser")[0]
    assert update.database == name
    assert update.doc == {"updateUser": name, "roles": owner(name)}  # no password sent
    assert tenant(fake_mongod, name)["roles"] == owner(name)


def test_check_resets_a_changed_password(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, created: Credentials
) -> None:
    name = created.database
    tenant(fake_mongod, name)["pwd"] = "changed-behind-our-back"

    result = adapter.check(created, repair=False)
    assert (result.ok, result.message) == (False, f"login {name} rejects its stored password")
    assert created.password not in result.message
    assert (name, name, False) in fake_mongod.logins
    assert not fake_mongod.sent("updateUser")

    fake_mongod.clear()
    result = adapter.check(created, repair=True)
    assert (result.ok, result.repaired) == (True, ("password reset",))
    update = fake_mongod.sent("updateUser")[0]
    assert (update.database, update.doc) == (name, {"updateUser": name,
                                                    "pwd": created.password})
    assert fake_mongod.logins[-1] == (name, name, True)


def test_check_reports_a_refusal_after_login(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, created: Credentials
) -> None:
    name = created.database
    fake_mongod.fail_next("listCollections", UNAUTHORIZED,
                          f"not authorized on {name} with password {created.password}")

    result = adapter.check(created, repair=True)

    assert not result.ok
    assert result.message == (f"login {name} cannot use database {name}: "
                              f"({UNAUTHORIZED}) not authorized on {name} with password ***")


def test_check_reports_dropped_database(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, created: Credentials
) -> None:
    name = created.database
    del fake_mongod.collections[name]  # what dropDatabase, or dropping every collection, does
    for repair in (False, True):
        result = adapter.check(created, repair=repair)
        assert not result.ok
        assert result.message == (f"database {name} no longer exists; its data is lost and "
                                  "cannot be restored by a repair")
    assert fake_mongod.commands() == [("admin", "listDatabases")] * 2


# -- inventory --------------------------------------------------------------------------


def test_inventory_in_one_admin_round_trip(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod
) -> None:
    healthy, no_user, wrong_roles, no_database = (
        adapter.create(new_backend_name(), new_password(), {}).database for _ in range(4))
    del fake_mongod.users[(no_user, no_user)]
    tenant(fake_mongod, wrong_roles)["roles"].append({"role": "read", "db": "admin"})
    del fake_mongod.collections[no_database]
    elsewhere = new_backend_name()  # named like ours but defined in "admin": not ours
    fake_mongod.add_user("admin", elsewhere, "x", ("dbOwner", elsewhere))
    fake_mongod.collections["rm_short"] = fake_mongod.collections["other"] = {"c"}
    fake_mongod.clear()

    found = adapter.inventory("rm_")

    assert fake_mongod.commands() == [("admin", "listDatabases"), ("admin", "usersInfo")]
    listing, users_info = fake_mongod.log
    assert listing.doc["filter"] == {"name": {"$regex": "^rm_"}}
    assert users_info.doc["usersInfo"] == {"forAllDBs": True}
    assert users_info.doc["filter"] == {"user": {"$regex": "^rm_"}}
    assert found.databases == {healthy, no_user, wrong_roles}
    assert found.logins == {healthy, wrong_roles, no_database}
    assert found.healthy == {healthy}


# -- failures ---------------------------------------------------------------------------


def every_operation(adapter: MongoDBAdapter, password: str) -> list[Callable[[], object]]:
    name = new_backend_name()
    return [
        adapter.ping,
        lambda: adapter.create(name, password, {}),
        lambda: adapter.delete(name),
        lambda: adapter.check(adapter.credentials(name, password), repair=True),
        lambda: adapter.inventory("rm_"),
    ]


def test_unreachable_server_is_transient_and_secret_free() -> None:
    port, secret, tenant_password = free_port(), "admin-" + new_password(), new_password()
    adapter = MongoDBAdapter(InstanceConfig(host="127.0.0.1", port=port, username="root",
                                            password=secret, connect_timeout=1))
    for call in every_operation(adapter, tenant_password):
        with pytest.raises(ProviderError) as excinfo:
            call()
        assert excinfo.value.transient
        assert excinfo.value.message == f"cannot reach MongoDB at 127.0.0.1:{port}: " \
                                        "connection refused"
        assert_secret_free(excinfo.value, secret, tenant_password)


def test_rejected_admin_login_is_not_transient(fake_mongod: FakeMongod) -> None:
    wrong, tenant_password = "wrong-" + new_password(), new_password()
    config = InstanceConfig(host=fake_mongod.host, port=fake_mongod.port,
                            username=fake_mongod.admin_user, password=wrong, connect_timeout=2)
    adapter = MongoDBAdapter(config)
    for call in every_operation(adapter, tenant_password):
        with pytest.raises(ProviderError) as excinfo:
            call()
        assert not excinfo.value.transient
        assert "(18) Authentication failed." in excinfo.value.message
        assert_secret_free(excinfo.value, wrong, tenant_password)
    assert fake_mongod.log == []  # nothing ran unauthenticated
    assert {ok for *_, ok in fake_mongod.logins} == {False}


def test_admin_in_another_auth_source_is_refused(fake_mongod: FakeMongod) -> None:
    adapter = MongoDBAdapter(config_for(fake_mongod, auth_source="ops"))
    with pytest.raises(ProviderError, match=r"\(18\) Authentication failed"):
        adapter.ping()
    assert fake_mongod.logins == [("ops", fake_mongod.admin_user, False)]


def test_server_errors_are_mapped_and_scrubbed(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod
) -> None:
    name, password = new_backend_name(), new_password()
    # A server that echoed the command would show the password; it never leaves the adapter.
    fake_mongod.fail_next("createUser", UNAUTHORIZED,
                          f"not authorized: {{createUser: '{name}', pwd: '{password}'}}")
    with pytest.raises(ProviderError) as excinfo:
        adapter.create(name, password, {})
    assert not excinfo.value.transient
    where = f"{fake_mongod.host}:{fake_mongod.port}"
    assert excinfo.value.message == (f"MongoDB at {where}: creating {name} failed: (13) "
                                     f"not authorized: {{createUser: '{name}', pwd: '***'}}")
    assert_secret_free(excinfo.value, password, fake_mongod.admin_password)

    fake_mongod.fail_next("dropDatabase", 50, "operation exceeded time limit")
    with pytest.raises(ProviderError) as excinfo:
        adapter.delete(name)
    assert excinfo.value.transient
    assert excinfo.value.message == (f"MongoDB at {where}: deleting {name} failed: (50) "
                                     "operation exceeded time limit")


def test_a_primary_stepping_down_is_transient(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod
) -> None:
    name = new_backend_name()
    fake_mongod.fail_next("createUser", 10107, "not primary")
    with pytest.raises(ProviderError) as excinfo:
        adapter.create(name, new_password(), {})
    assert excinfo.value.transient
    assert excinfo.value.message == (f"MongoDB at {fake_mongod.host}:{fake_mongod.port}: "
                                     f"creating {name} failed: (10107) not primary")


def test_driver_logs_hold_no_secret(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, caplog: pytest.LogCaptureFixture
) -> None:
    password = new_password()
    with caplog.at_level(logging.DEBUG):
        creds = adapter.create(new_backend_name(), password, {})
        tenant(fake_mongod, creds.username)["pwd"] = "changed"
        assert adapter.check(creds, repair=True).repaired == ("password reset",)
        adapter.delete(creds.database)
    assert any(record.name.startswith("pymongo") for record in caplog.records)
    assert password not in caplog.text and fake_mongod.admin_password not in caplog.text


@pytest.mark.parametrize("bad", ["rm_a$b", "rm_a.b", 'rm_a"b', "rm_a{b}", "RM_UPPER", "rm",
                                 "rm_a b", "admin\x00"])
def test_invalid_backend_name_refused_before_connecting(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_client(*args, **kwargs):
        raise AssertionError("connected to the server with an invalid name")

    monkeypatch.setattr(mongodb_module, "MongoClient", no_client)
    adapter = MongoDBAdapter(InstanceConfig(host="h", port=1, username="x", password="y"))
    creds = Credentials(bad, "pw", "h", 1, bad, "mongodb://")
    for call in (lambda: adapter.create(bad, "pw", {}), lambda: adapter.delete(bad),
                 lambda: adapter.check(creds, repair=True)):
        with pytest.raises(ProviderError, match="invalid backend identifier"):
            call()


# -- through the API (tasks run in-process in the test settings) -------------------------


def test_api_creates_and_deletes_a_mongodb_resource(
    make_client, mongo_provider, fake_mongod: FakeMongod
) -> None:
    client = make_client(team_a="RESOURCE_ADMIN")

    response = client.post("/api/c/team-a/resources", {"provider": "mongo", "name": "events"},
                           format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["type"]) == ("ready", "nosql")
    name = body["credentials"]["database"]
    assert body["credentials"]["uri"].endswith(f"/{name}?authSource={name}")
    assert tenant(fake_mongod, name) == {"pwd": body["credentials"]["password"],
                                         "roles": owner(name)}
    assert Resource.objects.get(id=body["id"]).backend_name == name

    response = client.post(f"/api/c/team-a/resources/{body['id']}/check", {}, format="json")
    assert response.status_code == 202
    assert client.get(f"/api/c/team-a/resources/{body['id']}").json()["last_check"]["ok"]

    assert client.delete(f"/api/c/team-a/resources/{body['id']}").status_code == 202
    assert (name, name) not in fake_mongod.users and name not in fake_mongod.collections


# -- a real mongod (MONGODB_URL) ----------------------------------------------------------

real = pytest.mark.skipif(not MONGODB_URL, reason="MONGODB_URL is not set: no real mongod "
                          "(e.g. mongodb://root:pw@127.0.0.1:27017/?authSource=admin)")


@pytest.fixture
def root() -> Iterator[MongoClient]:
    client: MongoClient = MongoClient(MONGODB_URL, serverSelectionTimeoutMS=3000)
    yield client
    client.close()


@pytest.fixture
def real_adapter(root: MongoClient) -> MongoDBAdapter:
    parsed = parse_uri(MONGODB_URL)
    host, port = parsed["nodelist"][0]
    return MongoDBAdapter(InstanceConfig(
        host=host, port=port, username=parsed["username"], password=parsed["password"],
        options={"auth_source": parsed["options"].get("authSource", "admin")}))


@pytest.fixture
def real_names(root: MongoClient) -> Iterator[Callable[[], str]]:
    """Hands out backend names; drops whatever user/database of that name is left."""

    def remove(name: str) -> None:
        if root[name].command("usersInfo", name)["users"]:
            root[name].command("dropUser", name)
        root.drop_database(name)

    with issued_names(remove) as issue:
        yield issue


def tenant_client(creds: Credentials) -> MongoClient:
    return MongoClient(creds.uri, serverSelectionTimeoutMS=3000)


@real
def test_real_create_issues_a_working_confined_uri(
    real_adapter: MongoDBAdapter, real_names: Callable[[], str], root: MongoClient
) -> None:
    a = real_adapter.create(real_names(), new_password(), {})
    b = real_adapter.create(real_names(), new_password(), {})
    assert b.database in root.list_database_names()

    with tenant_client(a) as client:
        client[a.database].notes.insert_one({"_id": 1, "body": "hello"})
        assert client[a.database].notes.find_one({"_id": 1})["body"] == "hello"
        for attempt in (lambda: client[b.database].notes.find_one(),
                        lambda: client[b.database].notes.insert_one({"x": 1}),
                        lambda: client["admin"].command("createUser", "intruder", pwd="x",
                                                        roles=["root"])):
            with pytest.raises(OperationFailure) as excinfo:
                attempt()
            assert excinfo.value.code == UNAUTHORIZED
        assert client.list_database_names() == [a.database]  # authorizedDatabases only


@real
def test_real_create_twice_resets_password(
    real_adapter: MongoDBAdapter, real_names: Callable[[], str]
) -> None:
    name = real_names()
    first = real_adapter.create(name, new_password(), {})
    with tenant_client(first) as client:
        client[name].kept.insert_one({"_id": 7})
    second = real_adapter.create(name, new_password(), {})
    with tenant_client(first) as client, pytest.raises(OperationFailure):
        client[name].kept.find_one()
    with tenant_client(second) as client:
        assert client[name].kept.find_one() == {"_id": 7}


@real
def test_real_check_repairs_dropped_user_and_changed_password(
    real_adapter: MongoDBAdapter, real_names: Callable[[], str], root: MongoClient
) -> None:
    creds = real_adapter.create(real_names(), new_password(), {})
    name = creds.database
    assert real_adapter.check(creds, repair=False).ok

    root[name].command("dropUser", name)
    result = real_adapter.check(creds, repair=False)
    assert (result.ok, result.message) == (False, f"login {name} does not exist")
    result = real_adapter.check(creds, repair=True)
    assert (result.ok, result.repaired) == (True, ("login re-created",)), result.message

    root[name].command("updateUser", name, pwd="changed-" + new_password())
    result = real_adapter.check(creds, repair=False)
    assert (result.ok, result.message) == (False, f"login {name} rejects its stored password")
    assert real_adapter.check(creds, repair=True).repaired == ("password reset",)
    with tenant_client(creds) as client:
        client[name].t.insert_one({})

    found = real_adapter.inventory("rm_")
    assert name in found.healthy


@real
def test_real_delete_removes_user_and_database(
    real_adapter: MongoDBAdapter, real_names: Callable[[], str], root: MongoClient
) -> None:
    creds = real_adapter.create(real_names(), new_password(), {})
    name = creds.database
    with tenant_client(creds) as client:
        client[name].t.insert_one({"x": 1})

    real_adapter.delete(name)

    assert name not in root.list_database_names()
    assert root[name].command("usersInfo", name)["users"] == []
    with tenant_client(creds) as client, pytest.raises(OperationFailure) as excinfo:
        client[name].t.find_one()
    assert excinfo.value.code == 18
    real_adapter.delete(name)  # a second delete is harmless
