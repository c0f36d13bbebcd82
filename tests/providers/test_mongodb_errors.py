"""MongoDBAdapter's failures on the wire: how it maps server errors, refused logins and an
unreachable server (transient or not), that it refuses invalid names before connecting,
and that no secret leaves it, in its errors or in the driver's logs."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from providers.adapters import mongodb as mongodb_module
from providers.adapters.base import Access, Credentials, InstanceConfig, Login, ProviderError
from providers.adapters.mongodb import MongoDBAdapter
from providers.adapters.naming import new_backend_name, new_login_name, new_password
from tests.providers.mongodb_support import (
    UNAUTHORIZED,
    assert_secret_free,
    config_for,
    mongodb_adapter,  # noqa: F401 (fixture adapter)
    tenant,
)
from tests.support.mongowire import FakeMongod
from tests.support.pgcluster import free_port


def every_operation(adapter: MongoDBAdapter, password: str) -> list[Callable[[], object]]:
    name = new_backend_name()
    login = Login(new_login_name(name), password, Access.READ_ONLY)
    return [
        adapter.ping,
        lambda: adapter.create(name, password, {}),
        lambda: adapter.delete(name),
        lambda: adapter.check(adapter.credentials(name, password), repair=True),
        lambda: adapter.inventory("rm_"),
        lambda: adapter.add_login(name, login),
        lambda: adapter.remove_login(name, login.name),
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

    login = Login(new_login_name(name), new_password(), Access.READ_WRITE)
    fake_mongod.collections[name] = {"c"}
    fake_mongod.fail_next("createUser", UNAUTHORIZED, f"not authorized: pwd: '{login.password}'")
    with pytest.raises(ProviderError) as excinfo:
        adapter.add_login(name, login)
    assert excinfo.value.message == (f"MongoDB at {where}: adding login {login.name} to "
                                     f"{name} failed: (13) not authorized: pwd: '***'")
    assert_secret_free(excinfo.value, login.password, fake_mongod.admin_password)

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
    password, login_password = new_password(), new_password()
    with caplog.at_level(logging.DEBUG):
        creds = adapter.create(new_backend_name(), password, {})
        tenant(fake_mongod, creds.username)["pwd"] = "changed"
        assert adapter.check(creds, repair=True).repaired == ("password reset",)
        login = Login(new_login_name(creds.database), login_password, Access.READ_ONLY)
        adapter.add_login(creds.database, login)
        adapter.add_login(creds.database, login)  # updateUser carries it too
        adapter.delete(creds.database)
    assert any(record.name.startswith("pymongo") for record in caplog.records)
    for secret in (password, login_password, fake_mongod.admin_password):
        assert secret not in caplog.text


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
    login = Login(f"{bad}_abc123", "pw", Access.OWNER)
    for call in (lambda: adapter.create(bad, "pw", {}), lambda: adapter.delete(bad),
                 lambda: adapter.check(creds, repair=True),
                 lambda: adapter.add_login(bad, login),
                 lambda: adapter.remove_login(bad, login.name)):
        with pytest.raises(ProviderError, match="invalid backend identifier"):
            call()

