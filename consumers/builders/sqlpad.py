"""The ``sqlpad`` builder: a SQLPad connection per PostgreSQL or MySQL resource.

SQLPad's REST API (server/routes/connections.js): ``GET /api/connections`` lists them
(passwords blanked), ``POST`` creates one, ``PUT /api/connections/:id`` replaces it and
``DELETE /api/connections/:id`` removes it; writes need an admin. A connection is
``{name, driver, data}``; ``data`` holds the driver's fields (``host``, ``port``,
``database``, ``username``, ``password``). The consumer signs in as an admin with e-mail
and password (``POST /api/signin``, session cookie) or sends a service token as
``Authorization: Bearer``.
"""

from __future__ import annotations

from typing import Any

from consumers.builders.base import PropertySpec
from consumers.builders.tool_http import ToolBuilder, ToolClient, tool_properties
from providers.adapters.base import Credentials

#: SQLPad driver ids by provider class.
DRIVERS = {"postgresql": "postgres", "mysql": "mysql2"}


class SQLPadBuilder(ToolBuilder):
    key = "sqlpad"
    label = "SQLPad"
    resource_types = frozenset({"sql"})
    provider_classes = frozenset(DRIVERS)
    properties = tool_properties({
        "email": PropertySpec("E-mail of a SQLPad admin (with password)"),
        "password": PropertySpec("That admin's password", secret=True),
        "api_token": PropertySpec("A SQLPad service token with the admin role, instead of "
                                  "e-mail and password", secret=True),
    })

    def authenticate(self, client: ToolClient) -> None:
        if token := self.setting("api_token"):
            client.session.headers["Authorization"] = f"Bearer {token}"
        else:
            email, password = self.login("email")
            client.request("POST", "api/signin", json={"email": email, "password": password})

    def find(self, client: ToolClient, name: str) -> dict[str, Any] | None:
        connections = client.request("GET", "api/connections") or []
        return next((item for item in connections if item.get("name") == name), None)

    def payload(self, name: str, provider_class: str, credentials: Credentials) -> dict[str, Any]:
        return {
            "name": name,
            "driver": DRIVERS[provider_class],
            "data": {
                "host": credentials.host,
                "port": str(credentials.port),  # a text field in SQLPad's forms
                "database": credentials.database,
                "username": credentials.username,
                "password": credentials.password,
            },
        }

    def create(self, client: ToolClient, payload: dict[str, Any]) -> None:
        client.request("POST", "api/connections", json=payload)

    def update(self, client: ToolClient, existing: dict[str, Any],
               payload: dict[str, Any]) -> None:
        client.request("PUT", f"api/connections/{existing['id']}", json=payload)

    def remove(self, client: ToolClient, existing: dict[str, Any]) -> None:
        client.request("DELETE", f"api/connections/{existing['id']}", missing_ok=True)
