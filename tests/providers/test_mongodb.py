"""MongoDBAdapter's create, delete, check and inventory, on the wire.

There is no mongod on the CI machines. These tests run the real pymongo against
``FakeMongod`` (tests/support/mongowire.py): mockupdb answering the handshake,
SCRAM-SHA-256 against the passwords it stores, and the catalog and user commands on an
in-memory model. They prove which commands the adapter sends, to which database, as whom
(the admin in ``auth_source``, the tenant in its own database), with which roles and
password, and that it converges on retries (``UserAlreadyExists``, ``UserNotFound``,
``NamespaceExists``). They cannot prove that MongoDB enforces what the commands ask for:
tests/providers/test_mongodb_real.py does, against a real mongod.
"""

from __future__ import annotations

import pytest

from providers.adapters.base import Credentials
from providers.adapters.mongodb import MARKER_COLLECTION, MongoDBAdapter
from providers.adapters.naming import new_backend_name, new_password
from tests.providers.mongodb_support import (
    UNAUTHORIZED,
    created_resource,  # noqa: F401 (fixture created)
    mongodb_adapter,  # noqa: F401 (fixture adapter)
    owner,
    tenant,
)
from tests.support.mongowire import FakeMongod

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

    # usersInfo: the resource's logins of their own, none here.
    deleted = [(name, "dropUser"), (name, "usersInfo"), (name, "dropDatabase")]
    assert fake_mongod.commands() == deleted
    assert fake_mongod.log[0].doc == {"dropUser": name}
    assert fake_mongod.log[1].doc == {"usersInfo": 1}
    assert fake_mongod.log[2].doc["dropDatabase"] == 1
    assert (name, name) not in fake_mongod.users and name not in fake_mongod.collections
    fake_mongod.clear()
    adapter.delete(name)  # UserNotFound (11) is fine; the database is dropped again
    assert fake_mongod.commands() == deleted


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

