"""The ``metabase`` builder: a Metabase database per PostgreSQL, MySQL or MongoDB resource.

Metabase's REST API (src/metabase/warehouses/api.clj): ``GET /api/database`` lists them
(``{"data": [...]}``; older versions answer the list itself), ``POST /api/database`` adds
one after testing the connection, ``PUT /api/database/:id`` changes it and ``DELETE
/api/database/:id`` removes it; all need an admin. A database is ``{name, engine,
details}``: engines ``postgres`` and ``mysql`` take ``host``, ``port``, ``dbname``,
``user``, ``password``, ``ssl``; ``mongo`` takes ``host``, ``port``, ``dbname``, ``user``,
``pass``, ``authdb``, ``ssl`` and ``additional-options``. The consumer logs in with
``POST /api/session`` (``{"id": ...}`` sent back as ``X-Metabase-Session``) or sends an
API key as ``x-api-key``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from consumers.builders.base import PropertySpec
from consumers.builders.tool_http import ToolBuilder, ToolClient, flag, tool_properties, uri_options
from providers.adapters.base import Credentials

#: Metabase engines by provider class.
ENGINES = {"postgresql": "postgres", "mysql": "mysql", "mongodb": "mongo"}


class MetabaseBuilder(ToolBuilder):
    key = "metabase"
    label = "Metabase"
    noun = "database"
    resource_types = frozenset({"sql", "nosql"})
    provider_classes = frozenset(ENGINES)
    properties = tool_properties({
        "username": PropertySpec("E-mail of a Metabase admin (with password)"),
        "password": PropertySpec("That admin's password", secret=True),
        "api_key": PropertySpec("A Metabase API key of the Administrators group, instead of "
                                "username and password", secret=True),
    })

    def authenticate(self, client: ToolClient) -> None:
        if api_key := self.setting("api_key"):
            client.session.headers["x-api-key"] = str(api_key)
            return
        username, password = self.login("username")
        session = client.request("POST", "api/session",
                                 json={"username": username, "password": password})
        token = str((session or {}).get("id") or "")
        client.hide(token)
        client.session.headers["X-Metabase-Session"] = token

    def find(self, client: ToolClient, name: str) -> dict[str, Any] | None:
        answer = client.request("GET", "api/database") or []
        databases = answer.get("data", []) if isinstance(answer, dict) else answer
        return next((item for item in databases if item.get("name") == name), None)

    def payload(self, name: str, provider_class: str, credentials: Credentials) -> dict[str, Any]:
        engine = ENGINES[provider_class]
        details: dict[str, Any] = {
            "host": credentials.host,
            "port": credentials.port,
            "dbname": credentials.database,
            "user": credentials.username,
        }
        if engine == "mongo":
            options = uri_options(credentials)
            details |= {
                "pass": credentials.password,
                "authdb": options.get("authSource", credentials.database),
                "ssl": flag(options.get("tls", False)),
            }
            if replica_set := options.get("replicaSet"):
                details["additional-options"] = urlencode({"replicaSet": replica_set})
        else:
            details |= {"password": credentials.password, "ssl": False}
        return {"name": name, "engine": engine, "details": details}

    def create(self, client: ToolClient, payload: dict[str, Any]) -> None:
        client.request("POST", "api/database", json=payload)

    def update(self, client: ToolClient, existing: dict[str, Any],
               payload: dict[str, Any]) -> None:
        client.request("PUT", f"api/database/{existing['id']}", json=payload)

    def remove(self, client: ToolClient, existing: dict[str, Any]) -> None:
        client.request("DELETE", f"api/database/{existing['id']}", missing_ok=True)
