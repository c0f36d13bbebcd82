"""The ``superset`` builder: a Superset database per PostgreSQL or MySQL resource.

Superset's REST API (superset/databases/api.py): ``GET /api/v1/database/`` lists them,
filtered with a Rison ``q`` (``database_name`` is searchable, ``eq`` matches exactly);
``POST /api/v1/database/`` adds one, ``PUT /api/v1/database/<pk>`` changes it and
``DELETE /api/v1/database/<pk>`` removes it. A database is ``{database_name,
sqlalchemy_uri}``; the URI holds the password, which Superset stores encrypted and masks
in its answers. The consumer logs in with ``POST /api/v1/security/login`` (a JWT sent as
``Authorization: Bearer``); writes also carry the CSRF token of
``GET /api/v1/security/csrf_token/`` (``X-CSRFToken``, with the session cookie and a
``Referer``), which Superset's CSRF protection asks of API writes.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from consumers.builders.base import PropertySpec
from consumers.builders.tool_http import ToolBuilder, ToolClient, tool_properties
from providers.adapters.base import Credentials

#: SQLAlchemy URI schemes by provider class (drivers shipped in Superset's images).
SCHEMES = {"postgresql": "postgresql+psycopg2", "mysql": "mysql+pymysql"}


def rison_string(text: str) -> str:
    """``text`` as a quoted Rison string: ``!`` and ``'`` are escaped with ``!``."""
    return "'" + text.replace("!", "!!").replace("'", "!'") + "'"


def sqlalchemy_uri(provider_class: str, credentials: Credentials) -> str:
    user, password = quote(credentials.username, safe=""), quote(credentials.password, safe="")
    host = f"[{credentials.host}]" if ":" in credentials.host else credentials.host
    database = quote(credentials.database, safe="")
    return f"{SCHEMES[provider_class]}://{user}:{password}@{host}:{credentials.port}/{database}"


class SupersetBuilder(ToolBuilder):
    key = "superset"
    label = "Superset"
    noun = "database"
    resource_types = frozenset({"sql"})
    provider_classes = frozenset(SCHEMES)
    properties = tool_properties({
        "username": PropertySpec("A Superset user allowed to manage databases (Admin)",
                                 required=True),
        "password": PropertySpec("That user's password", required=True, secret=True),
        "provider": PropertySpec("Superset login provider", kind="choice",
                                 choices=("db", "ldap"), default="db"),
    })

    def authenticate(self, client: ToolClient) -> None:
        username, password = self.login("username")
        answer = client.request("POST", "api/v1/security/login", json={
            "username": username, "password": password,
            "provider": str(self.setting("provider")), "refresh": False,
        })
        token = str((answer or {}).get("access_token") or "")
        client.hide(token)
        client.session.headers["Authorization"] = f"Bearer {token}"

    def find(self, client: ToolClient, name: str) -> dict[str, Any] | None:
        query = f"(filters:!((col:database_name,opr:eq,value:{rison_string(name)})))"
        answer = client.request("GET", "api/v1/database/", params={"q": query}) or {}
        return next((item for item in answer.get("result", [])
                     if item.get("database_name") == name), None)

    def payload(self, name: str, provider_class: str, credentials: Credentials) -> dict[str, Any]:
        return {
            "database_name": name,
            "sqlalchemy_uri": sqlalchemy_uri(provider_class, credentials),
            "expose_in_sqllab": True,
        }

    def create(self, client: ToolClient, payload: dict[str, Any]) -> None:
        self._csrf(client)
        client.request("POST", "api/v1/database/", json=payload)

    def update(self, client: ToolClient, existing: dict[str, Any],
               payload: dict[str, Any]) -> None:
        self._csrf(client)
        client.request("PUT", f"api/v1/database/{existing['id']}", json=payload)

    def remove(self, client: ToolClient, existing: dict[str, Any]) -> None:
        self._csrf(client)
        client.request("DELETE", f"api/v1/database/{existing['id']}", missing_ok=True)

    @staticmethod
    def _csrf(client: ToolClient) -> None:
        """Fetch the CSRF token the next write carries (its cookie stays in the session)."""
        answer = client.request("GET", "api/v1/security/csrf_token/") or {}
        token = str(answer.get("result") or "")
        client.hide(token)
        client.session.headers.update({"X-CSRFToken": token, "Referer": client.base_url})
