"""Tool builders against real tools.

- SQLPad: the release npm serves (``tests.support.sqlpad.SQLPAD_VERSION``, 3.1.0),
  installed and started by the tests, or the one ``RM_TEST_SQLPAD_URL`` names (with
  ``RM_TEST_SQLPAD_EMAIL``, ``RM_TEST_SQLPAD_PASSWORD``);
- Superset: the release ``tests.support.superset.SUPERSET_VERSION`` (6.1.0) from PyPI,
  installed and started by the tests, or the one ``RM_TEST_SUPERSET_URL`` names (with
  ``RM_TEST_SUPERSET_USER``, ``RM_TEST_SUPERSET_PASSWORD``).

The connection points at the local PostgreSQL server of the other tests (``RM_TEST_PG_*``),
which the tool must reach: Superset tests a connection before saving it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
import requests

from consumers.builders.base import CHECKED, CREATED, DELETED, UPDATED, DeliveryError, ResourceEvent
from consumers.builders.sqlpad import V3, SQLPadBuilder
from consumers.builders.superset import SupersetBuilder
from consumers.builders.tool_http import ToolBuilder, ToolClient
from providers.adapters.base import Credentials
from tests.conftest import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER
from tests.support.sqlpad import SQLPad, sqlpad  # noqa: F401 (the fixture)
from tests.support.superset import Superset, superset  # noqa: F401 (the fixture)

CREDENTIALS = Credentials(
    PG_USER, PG_PASSWORD, host=PG_HOST, port=PG_PORT, database="postgres",
    uri=f"postgresql://{quote(PG_USER)}:{quote(PG_PASSWORD, safe='')}@{PG_HOST}:{PG_PORT}/postgres",
)


def live_event(name: str, resource_id: str, provider_class: str = "postgresql"
               ) -> ResourceEvent:
    resource = {"id": resource_id, "name": "live", "type": "sql", "provider": "pg",
                "managed": True, "status": "ready", "tags": []}
    return ResourceEvent(id=1, name=name, scope="rm-test", resource=resource,
                         provider_class=provider_class, actor="pytest",
                         occurred_at="2025-01-01T00:00:00Z",
                         credentials=None if name == DELETED else CREDENTIALS)


def run_lifecycle(builder: ToolBuilder,
                  check_created: Callable[[ToolClient, dict[str, Any]], None] | None = None,
                  ) -> list[dict[str, Any] | None]:
    """Created, updated, checked, deleted twice; the connection as found after each step."""
    resource_id = str(uuid.uuid4())
    found = []
    for name in (CREATED, UPDATED, CHECKED, DELETED, DELETED):
        event = live_event(name, resource_id)
        builder.deliver(event)
        client = builder.client(None)
        builder.authenticate(client)
        found.append(builder.find(client, event.connection_name))
        if name == CREATED and check_created is not None:
            check_created(client, found[0])
    return found


@pytest.fixture
def superset_account(request: pytest.FixtureRequest) -> Superset:
    """The Superset ``RM_TEST_SUPERSET_URL`` names, else Superset ``SUPERSET_VERSION``
    from PyPI."""
    if url := os.environ.get("RM_TEST_SUPERSET_URL"):
        return Superset(url, os.environ.get("RM_TEST_SUPERSET_USER", "admin"),
                        os.environ["RM_TEST_SUPERSET_PASSWORD"])
    return request.getfixturevalue("superset")


def test_superset_live(superset_account: Superset) -> None:
    url = superset_account.url
    builder = SupersetBuilder({"url": url, "username": superset_account.username,
                               "password": superset_account.password})
    found = run_lifecycle(builder)
    assert found[0] is not None and found[0]["id"] == found[1]["id"] == found[2]["id"]
    assert found[3] is None and found[4] is None

    wrong = SupersetBuilder({**builder.config, "password": "not-the-password"})
    with pytest.raises(DeliveryError) as caught:
        wrong.deliver(live_event(CREATED, str(uuid.uuid4())))
    assert not caught.value.transient
    assert "not-the-password" not in caught.value.message
    requests.get(url, timeout=5)  # the tool is still up


@pytest.fixture
def sqlpad_account(request: pytest.FixtureRequest) -> SQLPad:
    """The SQLPad ``RM_TEST_SQLPAD_URL`` names, else SQLPad ``SQLPAD_VERSION`` from npm."""
    if url := os.environ.get("RM_TEST_SQLPAD_URL"):
        return SQLPad(url, os.environ.get("RM_TEST_SQLPAD_EMAIL", "admin@example.com"),
                      os.environ["RM_TEST_SQLPAD_PASSWORD"])
    return request.getfixturevalue("sqlpad")


def stored_connection(client: ToolClient, listed: dict[str, Any]) -> dict[str, Any]:
    """The connection as SQLPad holds it, its driver's fields at the top (3.x keeps
    them there, 5 and later in ``data``)."""
    if client.dialect == V3:
        return client.request("GET", f"api/connections/{listed['_id']}")["connection"]
    connection = client.request("GET", f"api/connections/{listed['id']}")
    return {**connection, **connection["data"]}


def test_sqlpad_live(sqlpad_account: SQLPad) -> None:
    builder = SQLPadBuilder({"url": sqlpad_account.url, "email": sqlpad_account.email,
                             "password": sqlpad_account.password})

    def check_created(client: ToolClient, listed: dict[str, Any]) -> None:
        # The list leaves the password out; the connection itself has the other fields.
        connection = stored_connection(client, listed)
        assert connection["driver"] == "postgres"
        assert connection["host"] == PG_HOST
        assert str(connection["port"]) == str(PG_PORT)
        assert connection["database"] == "postgres"
        assert connection["username"] == PG_USER
        assert connection["password"] == ""  # SQLPad never shows it back

    found = run_lifecycle(builder, check_created)
    assert None not in found[:3]
    assert len({item.get("id") or item["_id"] for item in found[:3]}) == 1  # updated in place
    assert found[3] is None and found[4] is None

    # SQLPad takes MySQL connections (it tests nothing on save): mysql2, mysql in 3.x.
    resource_id = str(uuid.uuid4())
    builder.deliver(live_event(CREATED, resource_id, "mysql"))
    client = builder.client(None)
    builder.authenticate(client)
    listed = builder.find(client, live_event(CREATED, resource_id).connection_name)
    assert listed is not None
    assert listed["driver"] == ("mysql" if client.dialect == V3 else "mysql2")
    builder.deliver(live_event(DELETED, resource_id, "mysql"))
    assert builder.find(client, live_event(CREATED, resource_id).connection_name) is None

    wrong = SQLPadBuilder({**builder.config, "password": "not-the-password"})
    with pytest.raises(DeliveryError) as caught:
        wrong.deliver(live_event(CREATED, str(uuid.uuid4())))
    assert not caught.value.transient
    assert "HTTP 401" in caught.value.message
    assert "not-the-password" not in caught.value.message
