"""MongoDBAdapter against a real mongod, where ``MONGODB_URL`` is set (skipped otherwise).

The wire tests cannot prove that MongoDB enforces what the adapter's commands ask for:
that ``dbOwner`` on one database reaches nothing else, that the URI works with a real
client, that a dropped database is really gone, that each login's role allows what its
level promises, that removing a login ends its running query (``currentOp``/``killOp``,
and ``killAllSessionsByPattern`` by the session owner's ``uid`` alone). These do, against
a real mongod with an admin user, e.g.
``MONGODB_URL=mongodb://root:pw@127.0.0.1:27017/?authSource=admin``. The running query is
a ``$where`` that sleeps: server-side JavaScript must be enabled (the default).
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure
from pymongo.uri_parser import parse_uri

from providers.adapters.base import Access, Credentials, InstanceConfig, Login
from providers.adapters.mongodb import AUTHENTICATION_FAILED, MongoDBAdapter
from providers.adapters.naming import new_login_name, new_password
from tests.providers.mongodb_support import UNAUTHORIZED
from tests.support.naming import issued_names

MONGODB_URL = os.environ.get("MONGODB_URL", "")

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
        root[name].command("dropAllUsersFromDatabase")  # its user and its logins
        root.drop_database(name)

    with issued_names(remove) as issue:
        yield issue


def tenant_client(creds: Credentials) -> MongoClient:
    return MongoClient(creds.uri, serverSelectionTimeoutMS=3000)


def refused(call: Callable[[], Any]) -> int:
    with pytest.raises(OperationFailure) as excinfo:
        call()
    return excinfo.value.code


def add_login(adapter: MongoDBAdapter, owner: Credentials, access: Access) -> Credentials:
    login = Login(new_login_name(owner.database), new_password(), access)
    return adapter.add_login(owner.database, login)


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


@real
def test_real_logins_do_what_their_level_allows_and_a_retry_resets_them(
    real_adapter: MongoDBAdapter, real_names: Callable[[], str]
) -> None:
    owner = real_adapter.create(real_names(), new_password(), {})
    other = real_adapter.create(real_names(), new_password(), {})
    name = owner.database
    with tenant_client(owner) as client:
        client[name].notes.insert_one({"_id": 1, "body": "kept"})
    reader, writer, builder = (add_login(real_adapter, owner, access) for access in
                               (Access.READ_ONLY, Access.READ_WRITE, Access.OWNER))

    with tenant_client(reader) as client:
        assert client[name].notes.find_one({"_id": 1})["body"] == "kept"
        for change in (lambda: client[name].notes.insert_one({"x": 1}),
                       lambda: client[name].notes.delete_many({}),
                       lambda: client[other.database].notes.find_one()):
            assert refused(change) == UNAUTHORIZED
    with tenant_client(writer) as client:
        client[name].notes.insert_one({"_id": 2})
        client[name].notes.update_one({"_id": 2}, {"$set": {"body": "changed"}})
        for change in (lambda: client[name].command("createUser", "intruder", pwd="x",
                                                    roles=["dbOwner"]),
                       lambda: client.drop_database(name),
                       lambda: client[other.database].notes.insert_one({"x": 1})):
            assert refused(change) == UNAUTHORIZED
    with tenant_client(builder) as client:
        client[name].command("create", "built")
        client[name].notes.create_index("body")
        client[name].drop_collection("built")

    login = Login(writer.username, new_password(), Access.READ_ONLY)
    again = real_adapter.add_login(name, login)
    with tenant_client(writer) as client:
        assert refused(lambda: client[name].notes.find_one()) == AUTHENTICATION_FAILED
    with tenant_client(again) as client:
        assert client[name].notes.count_documents({}) == 2
        assert refused(lambda: client[name].notes.insert_one({})) == UNAUTHORIZED


def _start_slow_query(root: MongoClient, client: MongoClient, login: Credentials
                      ) -> tuple[threading.Thread, dict[str, Any]]:
    """A query of ``login`` that would run for a minute, once the server shows it running;
    the outcome's ``code`` is the error that ended it."""
    outcome: dict[str, Any] = {"code": None}
    name, user = login.database, login.username

    def query() -> None:
        try:
            client[name].notes.find_one({"$where": "sleep(60000) || false"})
        except OperationFailure as exc:
            outcome["code"] = exc.code

    thread = threading.Thread(target=query, daemon=True)
    thread.start()
    running_as = {"$elemMatch": {"user": user, "db": name}}
    deadline = time.monotonic() + 10
    while not root.admin.command("currentOp", effectiveUsers=running_as)["inprog"]:
        assert time.monotonic() < deadline, "the query did not start"
        time.sleep(0.05)
    return thread, outcome


@real
def test_real_removing_a_login_ends_its_query_and_refuses_it(
    real_adapter: MongoDBAdapter, real_names: Callable[[], str], root: MongoClient
) -> None:
    owner = real_adapter.create(real_names(), new_password(), {})
    with tenant_client(owner) as client:
        client[owner.database].notes.insert_one({"_id": 1})
    reader = add_login(real_adapter, owner, Access.READ_ONLY)

    with tenant_client(reader) as client:
        thread, outcome = _start_slow_query(root, client, reader)
        started = time.monotonic()
        real_adapter.remove_login(owner.database, reader.username)
        thread.join(10)
        # Ended, with the server's error (Interrupted, or the sleep's "interrupted by kill").
        assert not thread.is_alive() and outcome["code"] is not None
        assert time.monotonic() - started < 5
        # Its open connection: the server forgot the dropped user.
        assert refused(lambda: client[owner.database].notes.find_one()) == UNAUTHORIZED
    with tenant_client(reader) as client:
        assert refused(lambda: client[owner.database].notes.find_one()) == AUTHENTICATION_FAILED
    assert root[owner.database].command("usersInfo", reader.username)["users"] == []
    real_adapter.remove_login(owner.database, reader.username)  # gone already: fine


@real
def test_real_killing_the_logins_sessions_alone_ends_its_query(
    real_adapter: MongoDBAdapter, real_names: Callable[[], str], root: MongoClient
) -> None:
    """An admin without ``inprog`` (no ``clusterMonitor``) cannot list operations; the
    sessions killed by the ``uid`` the adapter derives end the query all the same."""
    admin, password = f"ops_{secrets.token_hex(4)}", new_password()
    root.admin.command("createUser", admin, pwd=password, roles=[
        "userAdminAnyDatabase", "dbAdminAnyDatabase", "hostManager"])
    try:
        adapter = MongoDBAdapter(replace(real_adapter.config, username=admin,
                                         password=password,
                                         options={"auth_source": "admin"}))
        owner = adapter.create(real_names(), new_password(), {})
        with tenant_client(owner) as client:
            client[owner.database].notes.insert_one({"_id": 1})
        reader = add_login(adapter, owner, Access.READ_ONLY)
        with tenant_client(reader) as client:
            thread, outcome = _start_slow_query(root, client, reader)
            adapter.remove_login(owner.database, reader.username)
            thread.join(10)
            assert not thread.is_alive() and outcome["code"] is not None
        adapter.delete(owner.database)
        assert root[owner.database].command("usersInfo", 1)["users"] == []
    finally:
        root.admin.command("dropUser", admin)
