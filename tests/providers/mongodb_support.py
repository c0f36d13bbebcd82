"""What the MongoDB adapter tests share: the adapter on ``FakeMongod`` and readings of it."""

from __future__ import annotations

import pytest

from providers.adapters.base import Credentials, InstanceConfig, ProviderError
from providers.adapters.mongodb import MongoDBAdapter
from providers.adapters.naming import new_backend_name, new_password
from tests.support.mongowire import FakeMongod

UNAUTHORIZED = 13


def owner(name: str) -> list[dict[str, str]]:
    return [{"role": "dbOwner", "db": name}]


def config_for(server: FakeMongod, **options) -> InstanceConfig:
    return InstanceConfig(host=server.host, port=server.port, username=server.admin_user,
                          password=server.admin_password, options=options, connect_timeout=2)


@pytest.fixture(name="adapter")
def mongodb_adapter(fake_mongod: FakeMongod) -> MongoDBAdapter:
    return MongoDBAdapter(config_for(fake_mongod, auth_source="admin"))


@pytest.fixture(name="created")
def created_resource(adapter: MongoDBAdapter, fake_mongod: FakeMongod) -> Credentials:
    """A resource made by the adapter; the server's log starts empty after it."""
    credentials = adapter.create(new_backend_name(), new_password(), {})
    fake_mongod.clear()
    return credentials


def tenant(server: FakeMongod, name: str) -> dict:
    return server.users[(name, name)]


def assert_secret_free(error: ProviderError, *secrets: str) -> None:
    assert error.__cause__ is None and error.__suppress_context__  # raised ``from None``
    for secret in secrets:
        assert secret not in str(error) and secret not in repr(error.args)
