"""Provider classes by key. Adding a backend: one adapter module and one line here."""

from providers.adapters.base import ProviderAdapter
from providers.adapters.mongodb import MongoDBAdapter
from providers.adapters.mysql import MySQLAdapter, TiDBAdapter
from providers.adapters.postgresql import PostgreSQLAdapter
from providers.adapters.postgresql_dialects import CockroachDBAdapter, YugabyteDBAdapter
from providers.adapters.s3 import S3Adapter

ADAPTERS: dict[str, type[ProviderAdapter]] = {
    adapter.key: adapter for adapter in (PostgreSQLAdapter, MySQLAdapter, MongoDBAdapter, S3Adapter,
                                         CockroachDBAdapter, YugabyteDBAdapter, TiDBAdapter)
}


def adapter_class(key: str) -> type[ProviderAdapter]:
    try:
        return ADAPTERS[key]
    except KeyError:
        raise LookupError(f"unknown provider class {key!r}") from None


def class_choices() -> list[tuple[str, str]]:
    return [(key, adapter.label) for key, adapter in ADAPTERS.items()]
