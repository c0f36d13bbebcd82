"""The ``dremio`` builder: a Dremio source per PostgreSQL, MySQL, MongoDB or S3 resource.

Dremio's catalog API (dac/backend/.../api/CatalogResource.java): ``GET
/api/v3/catalog/by-path/<name>`` finds a source (404 when missing), ``POST
/api/v3/catalog`` creates one, ``PUT /api/v3/catalog/<id>`` replaces it (with the current
``tag``, its version) and ``DELETE /api/v3/catalog/<id>?tag=<tag>`` removes it. A source is
``{entityType: "source", name, type, config}`` with types ``POSTGRES``, ``MYSQL``, ``MONGO``
and ``S3``. The consumer logs in with ``POST /apiv2/login`` (``{userName, password}``; the
token is sent as ``Authorization: _dremio<token>``) or sends a personal access token as
``Authorization: Bearer``.

Source names may not contain ``.``, ``"``, ``@``, ``/``, ``:``, ``[`` or ``]``, and a ``/``
would split the by-path lookup: the source is named ``<scope>-<resource>-<id prefix>``
with every character other than letters, digits, ``_`` and ``-`` turned into ``_``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from consumers.builders.base import PropertySpec, ResourceEvent
from consumers.builders.tool_http import ToolBuilder, ToolClient, flag, tool_properties, uri_options
from providers.adapters.base import Credentials

#: Dremio source types by provider class.
SOURCE_TYPES = {"postgresql": "POSTGRES", "mysql": "MYSQL", "mongodb": "MONGO", "s3": "S3"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def source_name(event: ResourceEvent) -> str:
    """A stable source name Dremio accepts and by-path lookups read back unchanged."""
    return _UNSAFE.sub("_", f"{event.scope}-{event.resource['name']}-{event.resource['id'][:8]}")


class DremioBuilder(ToolBuilder):
    key = "dremio"
    label = "Dremio"
    noun = "source"
    resource_types = frozenset({"sql", "nosql", "object"})
    provider_classes = frozenset(SOURCE_TYPES)
    properties = tool_properties({
        "username": PropertySpec("A Dremio admin (with password)"),
        "password": PropertySpec("That admin's password", secret=True),
        "token": PropertySpec("A personal access token of a Dremio admin, instead of "
                              "username and password", secret=True),
        "s3_secure": PropertySpec("Reach S3 endpoints with https", kind="boolean",
                                  default=True),
    })

    def connection_name(self, event: ResourceEvent) -> str:
        return source_name(event)

    def authenticate(self, client: ToolClient) -> None:
        if token := self.setting("token"):
            client.session.headers["Authorization"] = f"Bearer {token}"
            return
        username, password = self.login("username")
        answer = client.request("POST", "apiv2/login",
                                json={"userName": username, "password": password})
        token = str((answer or {}).get("token") or "")
        client.hide(token)
        client.session.headers["Authorization"] = f"_dremio{token}"

    def find(self, client: ToolClient, name: str) -> dict[str, Any] | None:
        return client.request("GET", f"api/v3/catalog/by-path/{quote(name, safe='')}",
                              missing_ok=True)

    def payload(self, name: str, provider_class: str, credentials: Credentials) -> dict[str, Any]:
        source_type = SOURCE_TYPES[provider_class]
        return {"entityType": "source", "name": name, "type": source_type,
                "config": self._config(source_type, credentials)}

    def create(self, client: ToolClient, payload: dict[str, Any]) -> None:
        client.request("POST", "api/v3/catalog", json=payload)

    def update(self, client: ToolClient, existing: dict[str, Any],
               payload: dict[str, Any]) -> None:
        client.request("PUT", f"api/v3/catalog/{existing['id']}",
                       json={**payload, "id": existing["id"], "tag": existing["tag"]})

    def remove(self, client: ToolClient, existing: dict[str, Any]) -> None:
        client.request("DELETE", f"api/v3/catalog/{existing['id']}",
                       params={"tag": existing["tag"]}, missing_ok=True)

    def _config(self, source_type: str, credentials: Credentials) -> dict[str, Any]:
        if source_type == "S3":
            return self._s3_config(credentials)
        login = {"authenticationType": "MASTER", "username": credentials.username,
                 "password": credentials.password}
        if source_type == "POSTGRES":
            return {"hostname": credentials.host, "port": str(credentials.port),
                    "databaseName": credentials.database, **login}
        if source_type == "MYSQL":
            return {"hostname": credentials.host, "port": str(credentials.port),
                    "database": credentials.database, **login}
        options = uri_options(credentials)
        config = {"hostList": [{"hostname": credentials.host, "port": credentials.port}],
                  "authDatabase": options.get("authSource", credentials.database),
                  "useSsl": flag(options.get("tls", False)), **login}
        if replica_set := options.get("replicaSet"):
            config["propertyList"] = [{"name": "replicaSet", "value": replica_set}]
        return config

    def _s3_config(self, credentials: Credentials) -> dict[str, Any]:
        """Only the resource's bucket (its key may list nothing else); any endpoint but
        AWS's own is reached in compatibility mode with path-style requests."""
        config: dict[str, Any] = {
            "credentialType": "ACCESS_KEY",
            "accessKey": credentials.username,
            "accessSecret": credentials.password,
            "secure": flag(self.setting("s3_secure")),
            "whitelistedBuckets": [credentials.database],
        }
        if not credentials.host.endswith(".amazonaws.com"):
            host = f"[{credentials.host}]" if ":" in credentials.host else credentials.host
            config["compatibilityMode"] = True
            config["propertyList"] = [
                {"name": "fs.s3a.endpoint", "value": f"{host}:{credentials.port}"},
                {"name": "fs.s3a.path.style.access", "value": "true"},
            ]
        return config
