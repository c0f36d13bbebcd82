"""The ``sqlpad`` builder: a SQLPad connection per PostgreSQL or MySQL resource.

SQLPad's REST API (server/routes/connections.js): ``GET /api/connections`` lists them
(passwords blanked), ``POST`` creates one, ``PUT /api/connections/:id`` replaces it and
``DELETE /api/connections/:id`` removes it; writes need an admin. The consumer signs in
as an admin with e-mail and password (``POST /api/signin``, session cookie) or sends a
service token as ``Authorization: Bearer`` (SQLPad 5 and later).

Two shapes of that API are spoken, told apart by the list's answer:

- SQLPad 3 (3.1.0 is the release npm serves): ``{"connections": [...]}``; a connection
  is flat, ``{_id, name, driver, host, port, database, username, password}``, MySQL's
  driver is ``mysql``; a refusal comes back as HTTP 200 with ``{"error": "..."}``.
- SQLPad 5 and later: the list itself; a connection is ``{id, name, driver, data}``
  with the driver's fields in ``data``, MySQL's driver is ``mysql2``.
"""

from __future__ import annotations

from typing import Any

from consumers.builders.base import PropertySpec
from consumers.builders.tool_http import ToolBuilder, ToolClient, tool_properties
from providers.adapters.base import Credentials

#: SQLPad driver ids by provider class (SQLPad 5 and later).
DRIVERS = {"postgresql": "postgres", "mysql": "mysql2"}
#: The driver ids SQLPad 3 knows instead.
DRIVERS_V3 = {"postgres": "postgres", "mysql2": "mysql"}
#: ``ToolClient.dialect`` of a SQLPad 3 API.
V3 = "sqlpad-3"


class SQLPadBuilder(ToolBuilder):
    key = "sqlpad"
    label = "SQLPad"
    resource_types = frozenset({"sql"})
    provider_classes = frozenset(DRIVERS)
    properties = tool_properties({
        "email": PropertySpec("E-mail of a SQLPad admin (with password)"),
        "password": PropertySpec("That admin's password", secret=True),
        "api_token": PropertySpec("A SQLPad service token with the admin role, instead of "
                                  "e-mail and password (SQLPad 5 and later)", secret=True),
    })

    def authenticate(self, client: ToolClient) -> None:
        if token := self.setting("api_token"):
            client.session.headers["Authorization"] = f"Bearer {token}"
        else:
            email, password = self.login("email")
            self._send(client, "POST", "api/signin", json={"email": email, "password": password})

    def find(self, client: ToolClient, name: str) -> dict[str, Any] | None:
        answer = self._send(client, "GET", "api/connections") or []
        if isinstance(answer, dict) and isinstance(answer.get("connections"), list):
            client.dialect, connections = V3, answer["connections"]
        elif isinstance(answer, list):
            connections = answer
        else:
            raise client.unexpected('a list of connections (or {"connections": [...]})')
        if not all(isinstance(item, dict) for item in connections):
            raise client.unexpected("a list of connection objects")
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
        self._send(client, "POST", "api/connections", json=self._shaped(client, payload))

    def update(self, client: ToolClient, existing: dict[str, Any],
               payload: dict[str, Any]) -> None:
        self._send(client, "PUT", f"api/connections/{self._id(client, existing)}",
                   json=self._shaped(client, payload))

    def remove(self, client: ToolClient, existing: dict[str, Any]) -> None:
        self._send(client, "DELETE", f"api/connections/{self._id(client, existing)}",
                   missing_ok=True)

    @staticmethod
    def _send(client: ToolClient, method: str, path: str, **kwargs: Any) -> Any:
        """``client.request``, failing on the ``{"error": …}`` SQLPad 3 answers with 200."""
        answer = client.request(method, path, **kwargs)
        if isinstance(answer, dict) and answer.get("error"):
            raise client.refused(answer["error"])
        return answer

    @staticmethod
    def _shaped(client: ToolClient, payload: dict[str, Any]) -> dict[str, Any]:
        """The connection as the tool's API version takes it."""
        if client.dialect != V3:
            return payload
        return {"name": payload["name"], "driver": DRIVERS_V3[payload["driver"]],
                **payload["data"]}

    @staticmethod
    def _id(client: ToolClient, existing: dict[str, Any]) -> str:
        connection_id = existing.get("id") or existing.get("_id")
        if not isinstance(connection_id, str | int) or isinstance(connection_id, bool):
            raise client.unexpected("connections with an id or _id")
        return str(connection_id)
