"""MongoDBAdapter's metadata, the URIs it issues, its client options, and an instance
declared by URL: no server involved."""

from __future__ import annotations

import pytest
from pymongo.uri_parser import parse_uri

from providers.adapters import mongodb as mongodb_module
from providers.adapters.base import InstanceConfig, ProviderError
from providers.adapters.mongodb import MongoDBAdapter
from providers.adapters.registry import adapter_class
from providers.services import declared_providers


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
