"""The import layers: provider adapters and consumer builders are a leaf, taking plain values
and importing nothing of the app, and the access rules import no models."""

from __future__ import annotations

import grimp
import pytest

ADAPTERS = frozenset(
    "providers.adapters" + name
    for name in ("", ".base", ".naming", ".checkpoints", ".properties", ".postgresql",
                 ".postgresql_logins", ".postgresql_connections", ".postgresql_dialects",
                 ".mysql", ".mysql_logins", ".mysql_definers",
                 ".mysql_names", ".idle_connections", ".mongodb", ".s3", ".s3_names",
                 ".s3_logins", ".aws_errors", ".registry", ".dumps", ".postgresql_dumps",
                 ".mysql_dumps", ".s3_dumps", ".postgresql_connections", ".postgresql_quotas",
                 ".mysql_quotas", ".s3_quotas", ".scram")
)
BUILDERS = frozenset(
    "consumers.builders" + name
    for name in ("", ".base", ".webhook", ".sqlpad", ".superset", ".metabase", ".dremio",
                 ".log", ".tool_http", ".destinations", ".registry")
)


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("resourcemanager", "providers", "consumers", "audit", "config")


@pytest.mark.parametrize("module", sorted(ADAPTERS | BUILDERS))
def test_adapters_and_builders_import_nothing_of_the_app(graph, module):
    allowed = ADAPTERS | BUILDERS if module in BUILDERS else ADAPTERS
    assert module in graph.modules
    assert graph.find_upstream_modules(module) <= allowed


@pytest.mark.parametrize(
    "module", ["resourcemanager.identity.roles", "resourcemanager.identity.querysets"]
)
def test_the_access_rules_import_no_models(graph, module):
    assert module in graph.modules
    assert not {name for name in graph.find_upstream_modules(module)
                if name.rsplit(".", 1)[-1] == "models"}


def test_access_and_models_import_each_other_one_way_only(graph):
    assert not graph.find_shortest_chain(
        importer="resourcemanager.models", imported="resourcemanager.identity.access"
    )
