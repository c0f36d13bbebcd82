"""Tool builders against real tools, when the environment names one.

- ``RM_TEST_SUPERSET_URL`` (with ``RM_TEST_SUPERSET_USER``, ``RM_TEST_SUPERSET_PASSWORD``);
- ``RM_TEST_SQLPAD_URL`` (with ``RM_TEST_SQLPAD_EMAIL``, ``RM_TEST_SQLPAD_PASSWORD``).

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
from consumers.builders.sqlpad import SQLPadBuilder
from consumers.builders.superset import SupersetBuilder
from consumers.builders.tool_http import ToolBuilder, ToolClient
from providers.adapters.base import Credentials
from tests.conftest import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER

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


@pytest.mark.skipif(not os.environ.get("RM_TEST_SUPERSET_URL"), reason="no RM_TEST_SUPERSET_URL")
def test_superset_live() -> None:
    url = os.environ["RM_TEST_SUPERSET_URL"]
    builder = SupersetBuilder({
        "url": url,
        "username": os.environ.get("RM_TEST_SUPERSET_USER", "admin"),
        "password": os.environ["RM_TEST_SUPERSET_PASSWORD"],
    })
    found = run_lifecycle(builder)
    assert found[0] is not None and found[0]["id"] == found[1]["id"] == found[2]["id"]
    assert found[3] is None and found[4] is None

    wrong = SupersetBuilder({**builder.config, "password": "not-the-password"})
    with pytest.raises(DeliveryError) as caught:
        wrong.deliver(live_event(CREATED, str(uuid.uuid4())))
    assert not caught.value.transient
    assert "not-the-password" not in caught.value.message
    requests.get(url, timeout=5)  # the tool is still up


@pytest.mark.skipif(not os.environ.get("RM_TEST_SQLPAD_URL"), reason="no RM_TEST_SQLPAD_URL")
def test_sqlpad_live() -> None:
    builder = SQLPadBuilder({
        "url": os.environ["RM_TEST_SQLPAD_URL"],
        "email": os.environ.get("RM_TEST_SQLPAD_EMAIL", "admin@example.com"),
        "password": os.environ["RM_TEST_SQLPAD_PASSWORD"],
    })

    def check_created(client: ToolClient, listed: dict[str, Any]) -> None:
        # The list leaves the driver's fields out; the connection itself has them.
        connection = client.request("GET", f"api/connections/{listed['id']}")
        assert connection["driver"] == "postgres"
        assert connection["data"]["host"] == PG_HOST
        assert connection["data"]["database"] == "postgres"
        assert connection["data"]["password"] == ""  # SQLPad never shows it back

    found = run_lifecycle(builder, check_created)
    assert found[0] is not None and found[0]["id"] == found[1]["id"] == found[2]["id"]
    assert found[3] is None and found[4] is None

    # SQLPad accepts MySQL connections with its mysql2 driver (it tests nothing on save).
    resource_id = str(uuid.uuid4())
    builder.deliver(live_event(CREATED, resource_id, "mysql"))
    client = builder.client(None)
    builder.authenticate(client)
    listed = builder.find(client, live_event(CREATED, resource_id).connection_name)
    assert listed is not None and listed["driver"] == "mysql2"
    builder.deliver(live_event(DELETED, resource_id, "mysql"))

    wrong = SQLPadBuilder({**builder.config, "password": "not-the-password"})
    with pytest.raises(DeliveryError) as caught:
        wrong.deliver(live_event(CREATED, str(uuid.uuid4())))
    assert not caught.value.transient
    assert "HTTP 401" in caught.value.message
