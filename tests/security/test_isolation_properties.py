"""Scope isolation as a property: whatever a team-a caller sends, team-b stays out of reach.

Hypothesis draws requests to the resource API: the resource id (team-a's, team-b's in
spellings ``uuid.UUID`` accepts, random UUIDs, garbage), the scope in the path (team-a,
team-b, none, malformed), the X-Scope header (the same set, or absent), list filters and
pagination with odd values, the operation (list, detail, PATCH, DELETE, CHECK) and the
caller's role in team-a (each role, or none). The callers never hold a role in team-b.

For every example: no 5xx; nothing of team-b's resource (id, name, backend name,
password) in the response; a success only in team-a, for a caller with a role there, and
on an object route only for team-a's resource; team-b's row unchanged. After all examples,
team-b's database and login still exist on the server and its data is readable.

The scene (two resources on ``memory_provider``, one client per role) is made once per test
function; examples that delete team-a's resource get a fresh one for the next examples.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import Role
from resourcemanager.resources.models import Resource
from tests.security.conftest import MEMORY_KEY, SHARED_TAG, create_tenant
from tests.security.isolation_checks import (
    assert_intact_on_the_server,
    assert_row_unchanged,
    body_of,
    leaks,
    resource_row,
    tenant_markers,
)

NO_ROLE = "NO_ROLE"
CALLER_ROLES = [Role.ADMIN, Role.RESOURCE_ADMIN, Role.CONSUMER_ADMIN, Role.USER, NO_ROLE]

# --- what hypothesis draws --------------------------------------------------------------

#: Scopes that are not a valid slug, or valid slugs nobody holds a role in.
MALFORMED_SCOPES = [
    "Team-A", "team_a", "team-a ", " team-a", "-team-a", "team-a\n", "team-b\n", "team-a%00",
    "team-ä", "*", "..", "a" * 64, "default", "team-a,team-b", "team-b;team-a",
]
#: One list, where repeats weigh the scopes that matter; garbage is drawn separately.
scopes = st.sampled_from(["team-a"] * 30 + ["team-b"] * 10 + MALFORMED_SCOPES)
garbage = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), max_size=12)


@st.composite
def scope_forms(draw) -> tuple[str | None, str | None]:
    """(scope in the path or None for /api/…, X-Scope header or None)."""
    form = draw(st.sampled_from(
        ["path", "path", "path", "header", "header", "both", "same", "neither",
         "garbage path", "garbage header"]
    ))
    scope, other = draw(scopes), draw(scopes)
    return {
        "path": (scope, None),
        "header": (None, scope),
        "both": (scope, other),
        "same": (scope, scope),
        "neither": (None, None),
        "garbage path": (draw(garbage), None),
        "garbage header": (None, draw(garbage)),
    }[form]


#: Symbolic ids, resolved when the request is made (team-a's resource may be replaced).
RESOURCE_IDS = ["alpha", "bravo", "bravo-upper", "bravo-hex", "bravo-braces", "bravo-urn"]
resource_ids = st.one_of(
    st.sampled_from(RESOURCE_IDS),
    st.uuids().map(str),
    st.sampled_from(["0", "-1", "null", "None", "%00", "' OR 1=1 --", "*", "..", "%2e%2e"]),
    st.text(max_size=40),
)

sensible_values = st.sampled_from([
    SHARED_TAG, "bravo", "team-b", "team-a", MEMORY_KEY, "sql", "true", "false", "deleted", "ready",
    "1", "2",
])
odd_values = st.one_of(
    sensible_values,
    st.sampled_from(["", "0", "-1", "1e3", "999999999999999999999", "null", "[]", "%", "_"]),
    st.integers(-(10**20), 10**20).map(str),
    st.text(max_size=20),
)
QUERY_NAMES = ("tag", "provider", "status", "scope", "page", "page_size", "type", "managed")
query_params = st.dictionaries(st.sampled_from(QUERY_NAMES), odd_values, max_size=3)

tags = st.lists(st.one_of(st.sampled_from(["pwned", SHARED_TAG, "x"]), st.text(max_size=8)),
                max_size=3)
patch_bodies = st.fixed_dictionaries(
    {},
    optional={
        "tags": tags,
        "properties": st.dictionaries(st.text(max_size=8), st.integers(), max_size=2),
        "scope": scopes,
        "name": st.sampled_from(["moved", "bravo"]),
        "status": st.sampled_from(["deleted", "ready"]),
    },
)
check_bodies = st.fixed_dictionaries({}, optional={"repair": st.booleans()})

OPERATIONS = ["list", "detail", "patch", "delete", "check"]


@dataclass(frozen=True)
class Request:
    operation: str
    role: str
    resource_id: str
    path_scope: str | None  # None: /api/…
    header_scope: str | None  # None: no X-Scope header
    query: dict
    body: dict | None


@st.composite
def requests(draw) -> Request:
    path_scope, header_scope = draw(scope_forms())
    return Request(
        operation=draw(st.sampled_from(OPERATIONS)),
        role=draw(st.sampled_from(CALLER_ROLES)),
        resource_id=draw(resource_ids),
        path_scope=path_scope,
        header_scope=header_scope,
        query=draw(query_params),
        body=draw(st.one_of(st.none(), patch_bodies, check_bodies)),
    )


# --- the scene --------------------------------------------------------------------------


class Scene:
    """team-a's and team-b's resources, and one API client per caller role in team-a."""

    def __init__(self, make_client, owner: APIClient) -> None:
        self.owner = owner
        self.alpha = create_tenant(owner, "team-a", "alpha")
        self.bravo = create_tenant(owner, "team-b", "bravo-private")
        self.bravo_row = resource_row(self.bravo.id)
        self.bravo_markers = tenant_markers(self.bravo)
        self.callers = {}
        for role in CALLER_ROLES:
            client = make_client() if role == NO_ROLE else make_client(team_a=role)
            client.raise_request_exception = False  # a server error is a finding
            assert not ScopeRole.objects.filter(user=client.user, scope="team-b").exists()
            self.callers[role] = client
        self.statuses: list[int] = []

    def resolve_id(self, symbolic: str) -> str:
        bravo = uuid.UUID(self.bravo.id)
        return {
            "alpha": self.alpha.id,
            "bravo": self.bravo.id,
            "bravo-upper": self.bravo.id.upper(),
            "bravo-hex": bravo.hex,
            "bravo-braces": "{" + self.bravo.id + "}",
            "bravo-urn": bravo.urn,
        }.get(symbolic, symbolic)

    def send(self, request: Request):
        resource_id = quote(self.resolve_id(request.resource_id), safe="")
        base = f"/api/c/{quote(request.path_scope, safe='')}" if request.path_scope else "/api"
        path, method = {
            "list": ("resources", "get"),
            "detail": (f"resources/{resource_id}", "get"),
            "patch": (f"resources/{resource_id}", "patch"),
            "delete": (f"resources/{resource_id}", "delete"),
            "check": (f"resources/{resource_id}/check", "post"),
        }[request.operation]
        url = f"{base}/{path}"
        if request.query:
            url += "?" + urlencode(request.query)
        headers = {}
        if request.header_scope is not None:
            headers["HTTP_X_SCOPE"] = request.header_scope
        client = self.callers[request.role]
        return getattr(client, method)(url, request.body, format="json", **headers)

    def replace_alpha_if_gone(self) -> None:
        """An example may have deleted team-a's resource: later ones get a new one."""
        if Resource.objects.get(pk=self.alpha.id).status != Resource.Status.READY:
            self.alpha = create_tenant(self.owner, "team-a", "alpha")


@pytest.fixture
def scene(memory_provider, make_client) -> Scene:
    owner = make_client(team_a=Role.RESOURCE_ADMIN, team_b=Role.RESOURCE_ADMIN)
    return Scene(make_client, owner)


def effective_scope(request: Request) -> str | None:
    """The scope the request names (None: refused before any scope is chosen)."""
    if request.path_scope is not None and request.header_scope and (
        request.path_scope != request.header_scope
    ):
        return None
    return request.path_scope or request.header_scope or "default"


def names_alpha(scene: Scene, request: Request) -> bool:
    try:
        return uuid.UUID(scene.resolve_id(request.resource_id)) == uuid.UUID(scene.alpha.id)
    except ValueError:
        return False


# --- the property -----------------------------------------------------------------------


def check_one(scene: Scene, request: Request) -> None:
    response = scene.send(request)
    status = response.status_code
    scene.statuses.append(status)
    text = body_of(response)

    assert status < 500, text[:300]
    assert not leaks(text, scene.bravo_markers), text[:300]
    if status < 400:
        # The callers hold roles in team-a only (or nowhere).
        assert request.role != NO_ROLE
        assert effective_scope(request) == "team-a"
        if request.operation != "list" and scene.resolve_id(request.resource_id):
            assert names_alpha(scene, request)  # (an empty id is the list route)
    if request.operation == "list" and status == 200:
        assert scene.bravo.id not in {item["id"] for item in response.json()["results"]}
    assert_row_unchanged(scene.bravo, scene.bravo_row)
    scene.replace_alpha_if_gone()


def test_no_request_from_team_a_reaches_team_b(scene: Scene):
    @settings(
        max_examples=800,
        deadline=None,
        database=None,  # write nothing outside the test tree
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(request=requests())
    # Successes and refusals that are tried whatever hypothesis draws.
    @example(Request("detail", Role.USER, "alpha", "team-a", None, {}, None))
    @example(Request("list", Role.ADMIN, "alpha", None, "team-a", {"tag": SHARED_TAG}, None))
    @example(Request("list", Role.USER, "alpha", "team-a", None,
                     {"status": "ready", "page_size": "-1", "scope": "team-b"}, None))
    @example(Request("detail", Role.ADMIN, "bravo", "team-a", None, {}, None))
    @example(Request("detail", Role.ADMIN, "bravo", "team-b", None, {}, None))
    @example(Request("delete", Role.ADMIN, "bravo-urn", None, "team-a", {}, None))
    @example(Request("patch", Role.RESOURCE_ADMIN, "bravo-hex", "team-b", None, {},
                     {"tags": ["pwned"]}))
    @example(Request("check", Role.USER, "bravo-braces", "team-a", "team-a", {}, None))
    @example(Request("delete", Role.RESOURCE_ADMIN, "alpha", "team-a", None, {}, None))
    def property_holds(request: Request) -> None:
        check_one(scene, request)

    property_holds()

    # After every example: team-b's resource as it was, on the server too.
    assert_row_unchanged(scene.bravo, scene.bravo_row)
    assert_intact_on_the_server(scene.bravo)
    # Not vacuous: requests succeeded, and were refused for both reasons.
    assert any(status < 300 for status in scene.statuses)
    assert 403 in scene.statuses
    assert 404 in scene.statuses
