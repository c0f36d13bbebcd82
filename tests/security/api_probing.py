"""How the generated API tests call every route: one body, every scope form, both renderers.

``api_calls`` yields each API route once per way of naming a scope and per team-b object
its parameters can name, asking for JSON or the browsable API; ``call`` sends the same
body (aimed at team-b, never echoing team-b's values) with any method.
"""

from __future__ import annotations

from tests.security.conftest import MEMORY_KEY
from tests.security.foreign_world import World
from tests.security.isolation_checks import ACCEPT, payload_of
from tests.security.route_catalogue import API_ROUTES, url_of

#: One body for every method and route: each serializer takes what it knows. It aims at
#: team-b where a field names a scope, and stays away from team-b's own values so that an
#: echo of the input is never mistaken for a leak.
API_BODY = {
    "provider": MEMORY_KEY,
    "name": "intruder",
    "tags": ["pwned"],
    "properties": {},
    "scope": "team-b",
    "repair": True,
    "expires_in_days": 1,
}

#: The ways of naming a scope: (the path's /api/c/<scope>/, or None for /api/; X-Scope).
SCOPE_FORMS = [
    ("team-a", None),
    ("team-b", None),
    (None, None),
    (None, "team-a"),
    (None, "team-b"),
]


#: Every renderer answers what JSON answers; the browsable API's format suffix is "api".
RENDERERS = {"json": "json", "html": "api"}


def api_calls(world: World, scope: str | None, header: str | None, renderer: str = "json"):
    """(route, url, headers) of every API route in this scope form, per foreign object,
    asking for ``renderer`` (Accept header, and format suffix where the route has one)."""
    headers = {"HTTP_ACCEPT": ACCEPT[renderer]}
    if header:
        headers["HTTP_X_SCOPE"] = header
    for route in API_ROUTES:
        if ("scope" in route.kwargs) != (scope is not None):
            continue
        foreign_ids = (
            [world.bravo.id, world.bravo_token.pk, world.bravo_consumer.pk,
             world.bravo_credential.pk]
            if "pk" in route.kwargs else [0]
        )
        for foreign_id in foreign_ids:
            values = {"scope": scope, "pk": foreign_id, "id": foreign_id,
                      "resource_pk": world.bravo.id, "key": world.bravo_provider.key,
                      "format": RENDERERS[renderer]}
            yield route, url_of(route, values), headers


def call(client, method: str, url: str, headers: dict):
    return getattr(client, method)(url, API_BODY, format="json", **headers)


def code_of(response) -> str | None:
    """The error code of an answer, whichever renderer rendered it."""
    payload = payload_of(response)
    return payload.get("code") if isinstance(payload, dict) else None
