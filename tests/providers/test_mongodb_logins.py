"""Logins of their own to a MongoDB resource, per access level, on the wire.

``FakeMongod`` authorizes every command by the user's built-in roles and verifies SCRAM
passwords, so these show what each level may do, that a retry leaves exactly the last
password and role, and that removing a login refuses it afterwards and ends what it was
running (``hold_next`` keeps a query running until it is killed). The same checks run
against a real mongod in tests/providers/test_mongodb_real.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from providers.adapters.base import Access, Credentials, Login, ProviderError
from providers.adapters.mongodb import AUTHENTICATION_FAILED, MongoDBAdapter
from providers.adapters.naming import new_backend_name, new_login_name, new_password
from tests.providers.mongodb_support import (
    UNAUTHORIZED,
    config_for,
    created_resource,  # noqa: F401 (fixture created)
    mongodb_adapter,  # noqa: F401 (fixture adapter)
)
from tests.support.mongoops import session_uid
from tests.support.mongowire import INTERRUPTED, FakeMongod

LEAST_PRIVILEGE = (("userAdminAnyDatabase", "admin"), ("dbAdminAnyDatabase", "admin"))
ENDS_OPERATIONS = (("clusterMonitor", "admin"), ("hostManager", "admin"))


def _add(adapter: MongoDBAdapter, owner: Credentials, access: Access) -> Credentials:
    login = Login(new_login_name(owner.database), new_password(), access)
    return adapter.add_login(owner.database, login)


def _client(credentials: Credentials) -> MongoClient:
    return MongoClient(credentials.uri, serverSelectionTimeoutMS=3000)


def _refused(call: Callable[[], Any]) -> int:
    with pytest.raises(OperationFailure) as refused:
        call()
    return refused.value.code


@contextmanager
def _running_query(server: FakeMongod, client: MongoClient, name: str
                   ) -> Iterator[dict[str, Any]]:
    """A query of ``client`` kept running on the server (its ``opid``); afterwards the
    outcome's ``code`` is the error that ended it (None: it finished), ``seconds`` how long
    it ran on after the block started."""
    outcome: dict[str, Any] = {"code": None}

    def query() -> None:
        try:
            client[name].notes.find_one()
        except OperationFailure as exc:
            outcome["code"] = exc.code

    server.hold_next("find")
    thread = threading.Thread(target=query)
    thread.start()
    deadline = time.monotonic() + 5
    while not server.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.running, "the query did not start"
    outcome["opid"], started = next(iter(server.running)), time.monotonic()
    try:
        yield outcome
    finally:
        thread.join(5)
        outcome["seconds"] = time.monotonic() - started


def test_each_level_holds_one_role_on_the_database_and_does_what_it_allows(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, created: Credentials
) -> None:
    name = created.database
    other = adapter.create(new_backend_name(), new_password(), {})
    with _client(created) as owner:
        owner[name].notes.insert_one({"_id": 1, "body": "kept"})
    fake_mongod.clear()

    reader, writer, builder = (_add(adapter, created, access) for access in
                               (Access.READ_ONLY, Access.READ_WRITE, Access.OWNER))

    assert fake_mongod.commands() == [("admin", "listDatabases"), (name, "createUser")] * 3
    assert {entry.login for entry in fake_mongod.log} == {("admin", fake_mongod.admin_user)}
    for login, role in ((reader, "read"), (writer, "readWrite"), (builder, "dbOwner")):
        assert login.username.startswith(f"{name}_") and login.database == name
        assert login.uri.endswith(f"/{name}?authSource={name}")  # defined in its database
        assert fake_mongod.users[(name, login.username)] == {
            "pwd": login.password, "roles": [{"role": role, "db": name}]}
    with _client(reader) as client:
        assert client[name].notes.find_one({"_id": 1}) == {"_id": 1, "body": "kept"}
        assert _refused(lambda: client[name].notes.insert_one({"x": 1})) == UNAUTHORIZED
        assert _refused(lambda: client[other.database].notes.find_one()) == UNAUTHORIZED
        assert client.list_database_names() == [name]
    with _client(writer) as client:
        client[name].notes.insert_one({"_id": 2})
        for change in (lambda: client[name].command("createUser", "x", pwd="x", roles=[]),
                       lambda: client.drop_database(name),
                       lambda: client[other.database].notes.insert_one({"x": 1})):
            assert _refused(change) == UNAUTHORIZED
    with _client(builder) as client:
        client[name].command("create", "built")
    assert fake_mongod.documents[(name, "notes")] == [{"_id": 1, "body": "kept"}, {"_id": 2}]
    assert fake_mongod.collections[name] >= {"notes", "built"}
    assert fake_mongod.documents.get((other.database, "notes")) is None


def test_adding_again_leaves_exactly_the_last_password_and_level(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, created: Credentials
) -> None:
    name = created.database
    login = Login(new_login_name(name), new_password(), Access.READ_WRITE)
    first = adapter.add_login(name, login)
    fake_mongod.clear()

    again = adapter.add_login(name, replace(login, password=new_password(),
                                            access=Access.READ_ONLY))

    # UserAlreadyExists (51003) is answered with updateUser.
    assert fake_mongod.commands() == [("admin", "listDatabases"), (name, "createUser"),
                                      (name, "updateUser")]
    read = [{"role": "read", "db": name}]
    assert fake_mongod.sent("updateUser")[0].doc == {
        "updateUser": login.name, "pwd": again.password, "roles": read}
    assert fake_mongod.users[(name, login.name)] == {"pwd": again.password, "roles": read}
    with _client(first) as client:
        assert _refused(lambda: client[name].notes.find_one()) == AUTHENTICATION_FAILED
    with _client(again) as client:
        assert client[name].notes.find_one() is None
        assert _refused(lambda: client[name].notes.insert_one({})) == UNAUTHORIZED


def test_a_login_to_a_missing_database_is_refused(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod
) -> None:
    name = new_backend_name()
    with pytest.raises(ProviderError, match=f"database {name} does not exist"):
        adapter.add_login(name, Login(new_login_name(name), new_password(), Access.READ_ONLY))
    assert fake_mongod.commands() == [("admin", "listDatabases")]
    assert not [key for key in fake_mongod.users if key[0] == name]


def test_removing_a_login_ends_its_query_and_refuses_it_afterwards(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, created: Credentials
) -> None:
    name = created.database
    reader = _add(adapter, created, Access.READ_ONLY)
    user = reader.username
    with _client(reader) as client:
        with _running_query(fake_mongod, client, name) as query:
            fake_mongod.clear()
            adapter.remove_login(name, user)
            sent = list(fake_mongod.log)
        assert (query["code"], query["seconds"] < 3) == (INTERRUPTED, True)
        # The pooled connection is still open, but the server forgot its user.
        assert _refused(lambda: client[name].notes.find_one()) == UNAUTHORIZED
    assert (name, user) not in fake_mongod.users
    assert [(entry.database, entry.name) for entry in sent] == [
        (name, "dropUser"), ("admin", "currentOp"), ("admin", "killOp"),
        ("admin", "killAllSessionsByPattern")]
    _, current_op, kill_op, kill_sessions = sent
    assert current_op.doc == {"currentOp": 1,
                              "effectiveUsers": {"$elemMatch": {"user": user, "db": name}}}
    assert kill_op.doc == {"killOp": 1, "op": query["opid"]}
    assert kill_sessions.doc == {"killAllSessionsByPattern": [{"uid": session_uid((name, user))}]}
    with _client(reader) as client:
        assert _refused(lambda: client[name].notes.find_one()) == AUTHENTICATION_FAILED

    fake_mongod.clear()
    adapter.remove_login(name, user)  # gone already: UserNotFound (11) is fine
    assert fake_mongod.commands() == [(name, "dropUser"), ("admin", "currentOp"),
                                      ("admin", "killAllSessionsByPattern")]


def test_killing_its_sessions_ends_a_query_that_current_op_did_not_show(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, created: Credentials
) -> None:
    name = created.database
    reader = _add(adapter, created, Access.READ_ONLY)
    with _client(reader) as client, _running_query(fake_mongod, client, name) as query:
        fake_mongod.fail_next("currentOp", UNAUTHORIZED, "not authorized on admin")
        adapter.remove_login(name, reader.username)
    # The session's uid is SHA-256 of user@db, as the server computes it.
    assert (query["code"], query["seconds"] < 3) == (INTERRUPTED, True)


@pytest.mark.parametrize("ends_operations", [False, True])
def test_a_least_privilege_admin_drops_logins_and_ends_operations_if_allowed(
    fake_mongod: FakeMongod, ends_operations: bool
) -> None:
    roles = LEAST_PRIVILEGE + (ENDS_OPERATIONS if ends_operations else ())
    password = "admin-" + new_password()
    fake_mongod.add_user("admin", "rm_admin", password, *roles)
    config = replace(config_for(fake_mongod, auth_source="admin"), username="rm_admin",
                     password=password)
    adapter = MongoDBAdapter(config)
    owner = adapter.create(new_backend_name(), new_password(), {})
    reader = _add(adapter, owner, Access.READ_ONLY)

    if ends_operations:
        with _client(reader) as client, _running_query(fake_mongod, client,
                                                       owner.database) as query:
            adapter.remove_login(owner.database, reader.username)
        assert query["code"] == INTERRUPTED
    else:  # currentOp and killAllSessionsByPattern are refused: the login goes all the same
        with MongoClient(fake_mongod.host, fake_mongod.port, username="rm_admin",
                         password=password, authSource="admin") as admin:
            assert _refused(lambda: admin.admin.command("currentOp")) == UNAUTHORIZED
            assert _refused(lambda: admin.admin.command("killAllSessionsByPattern",
                                                        [])) == UNAUTHORIZED
        adapter.remove_login(owner.database, reader.username)
    assert (owner.database, reader.username) not in fake_mongod.users
    adapter.delete(owner.database)
    assert not [key for key in fake_mongod.users if key[0] == owner.database]


def test_deleting_the_resource_drops_its_logins_and_ends_their_queries(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, created: Credentials
) -> None:
    name = created.database
    other = adapter.create(new_backend_name(), new_password(), {})
    other_login = _add(adapter, other, Access.OWNER)
    reader, *_ = (_add(adapter, created, access) for access in Access)

    with _client(reader) as client, _running_query(fake_mongod, client, name) as query:
        adapter.delete(name)

    assert query["code"] == INTERRUPTED
    assert not [key for key in fake_mongod.users if key[0] == name]
    assert set(fake_mongod.users) >= {(other.database, other.username),
                                      (other.database, other_login.username)}


@pytest.mark.parametrize("login", ["root", "rm_k7x2q9f3m1ab", "rm_k7x2q9f3m1ab_ABC123",
                                   "rm_zzzzzzzzzzzz_abc123", "rm_k7x2q9f3m1ab_abc123$"])
def test_logins_not_named_after_the_resource_are_refused_before_any_command(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, login: str
) -> None:
    name = "rm_k7x2q9f3m1ab"  # the resource's own user is not one of its logins either
    for call in (lambda: adapter.add_login(name, Login(login, "pw", Access.OWNER)),
                 lambda: adapter.remove_login(name, login)):
        with pytest.raises(ProviderError, match="refusing login identifier"):
            call()
    assert fake_mongod.log == [] and fake_mongod.logins == []


def test_a_rotated_owner_hands_over_to_an_owner_login_and_its_own_user_goes(
    adapter: MongoDBAdapter, fake_mongod: FakeMongod, created: Credentials
) -> None:
    name = created.database
    with _client(created) as owner:
        owner[name].notes.insert_one({"_id": 1, "body": "kept"})
    successor = _add(adapter, created, Access.OWNER)

    adapter.close_owner_login(name)
    adapter.close_owner_login(name)  # done already: nothing to do

    assert (name, name) not in fake_mongod.users
    with _client(created) as owner:
        assert _refused(lambda: owner[name].notes.find_one()) == AUTHENTICATION_FAILED
    with _client(successor) as client:
        assert client[name].notes.find_one() == {"_id": 1, "body": "kept"}
    assert adapter.check(successor, repair=False, owner_login=successor.username).ok
