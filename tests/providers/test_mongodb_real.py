"""MongoDBAdapter against a real mongod, where ``MONGODB_URL`` is set (skipped otherwise).

The wire tests cannot prove that MongoDB enforces what the adapter's commands ask for:
that ``dbOwner`` on one database reaches nothing else, that the URI works with a real
client, that a dropped database is really gone. These do, against a real mongod with an
admin user, e.g. ``MONGODB_URL=mongodb://root:pw@127.0.0.1:27017/?authSource=admin``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure
from pymongo.uri_parser import parse_uri

from providers.adapters.base import Credentials, InstanceConfig
from providers.adapters.mongodb import MongoDBAdapter
from providers.adapters.naming import new_password
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
