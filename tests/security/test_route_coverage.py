"""Isolation on every route the URL conf declares, generated instead of hand-listed.

``test_isolation_matrix`` lists the routes it knows; this module walks
``django.urls.get_resolver()`` so that a route added later is tested the day it appears:

- every API route (``/api/…`` and ``/api/c/<scope>/…``, format suffixes included), with
  every method its view accepts: anonymous callers get a JSON 401 unless the route is in
  ``PUBLIC_API_ROUTES``; a user holding every role in team-a, aiming at team-b's objects
  in every way of naming a scope, never reads anything of team-b and changes nothing of
  it; a scope the caller has no role in is refused (403), a malformed one too (400);
  no method, declared or not, anonymous or not, gets a 5xx (each request is sent once);
- every admin page (pages of every registered model, and the site's own pages): the same
  user (not staff: the admin site admits anyone with a role) never sees team-b's
  resource, memberships, audit entries, token, owner, group or reserved provider, and its
  forged changes, deletions, grants and bulk actions leave them as they were.

A route whose parameters this module cannot fill, or an admin page it cannot classify,
fails with a message saying what to teach it. Each test sets up its world once and loops
over the routes, naming every offending route and method in its failure message.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from rest_framework.test import APIClient

from audit.models import AuditEntry
from consumers.models import Consumer, Delivery
from providers.models import Provider
from resourcemanager.identity.models import ApiToken, ScopeRole
from resourcemanager.identity.roles import Role
from resourcemanager.identity.tokens import issue_token
from resourcemanager.resources.models import Resource
from resourcemanager.ui.adminscope import SESSION_KEY
from tests.security.conftest import MEMORY_KEY, Tenant, create_tenant
from tests.security.isolation_checks import (
    ACCEPT,
    assert_intact_on_the_server,
    assert_row_unchanged,
    body_of,
    describe,
    leaks,
    payload_of,
    resource_row,
    shown_by,
    tenant_markers,
)

ALL_METHODS = ("get", "head", "options", "post", "put", "patch", "delete")

#: API routes an anonymous caller may use (full URL-conf patterns). Every other route
#: under /api/ must answer an anonymous caller with a JSON 401.
PUBLIC_API_ROUTES = {
    # The OpenAPI document and its Swagger UI: they describe the routes and hold no data.
    "api/schema/",
    "api/docs/",
    # Browser sign-in through the identity provider: starting it and coming back from it
    # happen before the caller has a session.
    "api/auth/login",
    "api/auth/callback",
    # Ends the session: an anonymous caller has none and is redirected like everyone.
    "api/auth/logout",
}

#: Routes under /api/c/<scope>/ that deliberately ignore the scope (full patterns).
SCOPE_FREE_API_ROUTES: set[str] = set()

#: Admin pages that are not pages of a registered model (full URL-conf patterns).
#: Django builds the app-index pattern from the registered apps, in registration order.
APP_INDEX_PATTERN = "admin/^(?P<app_label>{})/$".format(
    "|".join(dict.fromkeys(model._meta.app_label for model in admin.site._registry))
)

SITE_ADMIN_ROUTES = {
    "admin/": "the index: lists the apps the user may see",
    "admin/login/": "sign-in form",
    "admin/logout/": "sign-out",
    "admin/password_change/": "the user's own password",
    "admin/password_change/done/": "the user's own password",
    "admin/autocomplete/": "search-as-you-type for autocomplete_fields",
    "admin/scope/": "the header's scope switcher (POST): narrows the pages to one scope",
    "admin/jsi18n/": "JavaScript translations",
    "admin/r/<path:content_type_id>/<path:object_id>/": "view on site, of any object",
    APP_INDEX_PATTERN: "one app's models",
    "admin/(?P<url>.*)$": "catch-all: adds the slash, else 404",
}

#: Admin pages an anonymous browser may see; every other one sends it to the login.
PUBLIC_ADMIN_ROUTES = {"admin/login/", "admin/logout/", "admin/jsi18n/"}

#: Admin pages that answer an object of another scope differently from one that never
#: existed. None: platform rows (providers, users, groups) are invisible to non-operators,
#: so even Django's history view, which looks the object up first, cannot tell them apart.
KNOWN_EXISTENCE_ORACLES: set[str] = set()

STANDARD_ADMIN_VIEWS = ("changelist", "add", "change", "delete", "history")


# --- the routes, from the URL conf ------------------------------------------------------


@dataclass(frozen=True)
class Route:
    pattern: str  # the full URL-conf pattern, e.g. "api/c/<str:scope>/^resources/?$"
    name: str | None  # with namespaces, e.g. "api-scoped:resource-list"
    kwargs: tuple[str, ...]
    methods: tuple[str, ...]  # lower-case, as the view declares them

    def __str__(self) -> str:
        return self.pattern


def _methods(callback) -> tuple[str, ...]:
    """The methods a view accepts: a viewset's actions, else the view class's handlers."""
    actions = getattr(callback, "actions", None)  # DRF viewsets: {"get": "list", ...}
    if actions is not None:
        accepted = {*actions, "options"} | ({"head"} if "get" in actions else set())
    else:
        view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if view is None:
            return ALL_METHODS  # a function view: every method may do something
        declared = getattr(callback, "view_initkwargs", {}).get(
            "http_method_names", view.http_method_names
        )
        accepted = {
            method for method in declared
            # Django answers HEAD with the GET handler, where it allows HEAD at all.
            if hasattr(view, method) or (method == "head" and hasattr(view, "get"))
        }
    return tuple(m for m in ALL_METHODS if m in accepted)


def _walk(patterns, prefix: str = "", namespace: str = "", kwargs=()) -> Iterator[Route]:
    for entry in patterns:
        pattern = prefix + str(entry.pattern)
        names = kwargs + tuple(entry.pattern.regex.groupindex)
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, [namespace, entry.namespace]))
            yield from _walk(entry.url_patterns, pattern, inner, names)
        else:
            assert isinstance(entry, URLPattern)
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield Route(pattern, name, names, _methods(entry.callback))


ROUTES = [
    route
    for route in _walk(get_resolver().url_patterns)
    if route.pattern.startswith(("api/", "admin/"))
]
API_ROUTES = [route for route in ROUTES if route.pattern.startswith("api/")]
ADMIN_ROUTES = [route for route in ROUTES if route.pattern.startswith("admin/")]
SCOPED_API_ROUTES = [route for route in API_ROUTES if "scope" in route.kwargs]


def url_of(route: Route, values: dict) -> str:
    """The route's URL with ``values`` for its parameters; checked to resolve back to it."""
    unknown = [name for name in route.kwargs if name not in values]
    if unknown:
        pytest.fail(f"{route}: no value known for {unknown}; teach this module one")
    kwargs = {name: values[name] for name in route.kwargs}
    if route.name:
        url = reverse(route.name, kwargs=kwargs)
    else:  # unnamed: fill the pattern itself
        url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(kwargs[m[1]]), route.pattern)
        url = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(kwargs[m[1]]), url)
        url = "/" + url.replace("^", "").replace("$", "")
    resolved = resolve(url).route  # joined without the inner regexes' "^"
    assert resolved.replace("^", "") == route.pattern.replace("^", ""), (route, url)
    return url


def model_of(route: Route) -> type[models.Model] | None:
    """The registered model whose admin page ``route`` is, if any."""
    for model in admin.site._registry:
        if route.pattern.startswith(f"admin/{model._meta.app_label}/{model._meta.model_name}/"):
            return model
    return None


# --- team-b's world, and the caller from team-a -----------------------------------------


@dataclass
class World:
    alpha: Tenant
    bravo: Tenant
    bravo_owner: APIClient  # holds ADMIN in team-b only
    bravo_token: ApiToken
    bravo_token_plaintext: str
    bravo_membership: ScopeRole
    bravo_audit: AuditEntry
    bravo_provider: Provider  # reserved for team-b
    bravo_group: Group
    bravo_consumer: Consumer  # a webhook with a secret, registered in team-b
    bystander: object  # a user without roles, to be granted roles by forged forms
    snapshot: dict = field(default_factory=dict)

    def markers(self) -> dict[str, str]:
        """Values stored for team-b only; none may reach a team-a caller."""
        return {
            **tenant_markers(self.bravo),
            "owner username": self.bravo_owner.user.username,
            "token name": self.bravo_token.name,
            "token hint": self.bravo_token.hint,
            "token": self.bravo_token_plaintext,
            "reserved provider key": self.bravo_provider.key,
            "reserved provider host": self.bravo_provider.host,
            "group name": self.bravo_group.name,
            "consumer name": self.bravo_consumer.name,
            "consumer secret": BRAVO_CONSUMER_SECRET,
            "consumer URL": self.bravo_consumer.properties["url"],
        }

    def foreign(self, model: type[models.Model]) -> models.Model:
        """team-b's object of ``model``, for every model registered in the admin."""
        objects = {
            Resource: Resource.objects.get(pk=self.bravo.id),
            ScopeRole: self.bravo_membership,
            AuditEntry: self.bravo_audit,
            ApiToken: self.bravo_token,
            Provider: self.bravo_provider,
            Group: self.bravo_group,
            Consumer: self.bravo_consumer,
            type(self.bravo_owner.user): self.bravo_owner.user,
        }
        if model not in objects:
            pytest.fail(f"no team-b object of {model.__name__}: add one to World")
        return objects[model]

    def take_snapshot(self) -> dict:
        """Everything of team-b a team-a caller could try to change."""
        owner = self.bravo_owner.user
        users = type(owner).objects
        return {
            "resource": resource_row(self.bravo.id),
            "resources of team-b": sorted(
                Resource.objects.filter(scope="team-b").values_list("id", "status")
            ),
            "memberships of team-b": sorted(
                ScopeRole.objects.filter(scope="team-b").values_list("user_id", "role")
            ),
            # Refused attempts are recorded (denied); nothing else may appear or change.
            "audit of team-b": list(AuditEntry.objects.filter(scope="team-b").exclude(
                outcome=AuditEntry.Outcome.DENIED).values()),
            "token": ApiToken.objects.filter(pk=self.bravo_token.pk)
            .values("user_id", "name", "digest", "expires_at", "revoked_at")
            .get(),
            "owner": users.filter(pk=owner.pk)
            .values("username", "password", "is_active", "is_staff", "is_superuser")
            .get(),
            "provider": Provider.objects.filter(pk=self.bravo_provider.pk).values().get(),
            "providers": sorted(Provider.objects.values_list("key", "allowed_scopes")),
            "group": (self.bravo_group.name, list(self.bravo_group.permissions.all())),
            "consumers of team-b": list(Consumer.objects.filter(scope="team-b").values()),
            "deliveries of team-b": list(
                Delivery.objects.filter(consumer__scope="team-b").values()
            ),
            "staff and operators": sorted(
                users.filter(models.Q(is_staff=True) | models.Q(is_superuser=True))
                .values_list("username", flat=True)
            ),
        }

    def assert_untouched(self) -> None:
        now = self.take_snapshot()
        changed = [key for key in self.snapshot if self.snapshot[key] != now[key]]
        assert not changed, f"team-b's objects changed: {changed}"
        assert_row_unchanged(self.bravo, self.snapshot["resource"])
        assert_intact_on_the_server(self.bravo)
        owner_view = self.bravo_owner.get(f"/api/c/team-b/resources/{self.bravo.id}")
        assert owner_view.status_code == 200  # team-b's owner and its token still work
        assert owner_view.json()["credentials"] == self.bravo.credentials


BRAVO_CONSUMER_SECRET = "bravo-webhook-secret-zq"


def create_bravo_consumer(owner: APIClient) -> Consumer:
    """A webhook consumer of team-b (its endpoint refuses connections: one failed delivery)."""
    response = owner.post("/api/c/team-b/consumers", {
        "builder": "webhook", "name": "bravo-hook-zq",
        "properties": {"url": "http://127.0.0.1:1/bravo-path-zq",
                       "secret": BRAVO_CONSUMER_SECRET},
    }, format="json")
    assert response.status_code == 201, response.json()
    return Consumer.objects.get(pk=response.json()["id"])


@pytest.fixture
def world(memory_provider, make_client, django_user_model) -> World:
    alpha_owner = make_client(team_a=Role.ADMIN)
    owner = django_user_model.objects.create_user(username="bravo_owner_zq", password=None)
    ScopeRole.objects.create(user=owner, scope="team-b", role=Role.ADMIN)
    token, plaintext = issue_token(owner, "bravo-token-zq", expires_in_days=1)
    bravo_owner = APIClient()
    bravo_owner.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    bravo_owner.user = owner
    world = World(
        alpha=create_tenant(alpha_owner, "team-a", "alpha"),
        bravo=create_tenant(bravo_owner, "team-b", "bravo-private-zq"),
        bravo_owner=bravo_owner,
        bravo_token=ApiToken.objects.get(pk=token.pk),
        bravo_token_plaintext=plaintext,
        bravo_membership=ScopeRole.objects.get(user=owner, scope="team-b"),
        bravo_audit=AuditEntry.objects.filter(scope="team-b").earliest("timestamp"),
        bravo_provider=Provider.objects.create(
            key="bravo-reserved-zq", provider_class="postgresql", host="10.66.66.66",
            port=5432, username="x", password="x", allowed_scopes=["team-b"],
        ),
        bravo_group=Group.objects.create(name="bravo-group-zq"),
        bravo_consumer=create_bravo_consumer(bravo_owner),
        bystander=django_user_model.objects.create_user(username="bystander", password=None),
    )
    world.snapshot = world.take_snapshot()
    return world


@pytest.fixture
def team_a_user(every_role_client) -> APIClient:
    """A user holding every role in team-a, none elsewhere, not staff, not operator."""
    client = every_role_client("team-a")
    client.raise_request_exception = False  # a server error is an answer like any other
    assert not client.user.is_staff
    assert not client.user.is_superuser
    return client


def assert_caller_not_escalated(user) -> None:
    user.refresh_from_db()
    assert not user.is_staff
    assert not user.is_superuser
    assert not user.user_permissions.exists()
    assert not user.groups.exists()
    scopes = set(ScopeRole.objects.filter(user=user).values_list("scope", flat=True))
    assert scopes == {"team-a"}


# --- the generator can fail -------------------------------------------------------------

KNOWN_API_ROUTES = {
    ("api:resource-list", ("get", "head", "options", "post")),
    ("api:resource-detail", ("get", "head", "options", "patch", "delete")),
    ("api:resource-check", ("options", "post")),
    ("api:provider-list", ("get", "head", "options")),
    ("api:provider-detail", ("get", "head", "options")),
    ("api:permissions", ("get", "head", "options")),
    ("api:token-list", ("get", "head", "options", "post")),
    ("api-scoped:resource-list", ("get", "head", "options", "post")),
    ("api-scoped:resource-detail", ("get", "head", "options", "patch", "delete")),
    ("api-scoped:resource-check", ("options", "post")),
    ("api-scoped:provider-list", ("get", "head", "options")),
    ("api-scoped:provider-detail", ("get", "head", "options")),
    ("api-scoped:permissions", ("get", "head", "options")),
    ("auth-user", ("get", "head", "options")),
    ("api:consumer-list", ("get", "head", "options", "post")),
    ("api:consumer-detail", ("get", "head", "options", "patch", "delete")),
    ("api:consumer-sync", ("options", "post")),
    ("api:builder-list", ("get", "head", "options")),
    ("api-scoped:consumer-list", ("get", "head", "options", "post")),
    ("api-scoped:consumer-detail", ("get", "head", "options", "patch", "delete")),
    ("api-scoped:consumer-sync", ("options", "post")),
    ("api-scoped:builder-list", ("get", "head", "options")),
}


def test_the_generated_route_list_holds_the_known_routes():
    generated = {(route.name, route.methods) for route in API_ROUTES}
    assert generated >= KNOWN_API_ROUTES, KNOWN_API_ROUTES - generated
    patterns = {route.pattern for route in API_ROUTES}
    assert "api/c/<str:scope>/^resources/(?P<pk>[^/.]+)/check/?$" in patterns
    assert "api/^resources/(?P<pk>[^/.]+)/?\\.(?P<format>[a-z0-9]+)/?$" in patterns
    admin_names = {route.name for route in ADMIN_ROUTES}
    for model in ("resourcemanager_resource", "resourcemanager_scoperole", "audit_auditentry",
                  "resourcemanager_apitoken", "providers_provider", "consumers_consumer"):
        for view in STANDARD_ADMIN_VIEWS:
            assert f"admin:{model}_{view}" in admin_names
    assert "admin:providers_provider_test_connection" in admin_names  # a POST-only page
    # No stale entries in the allow-lists: each names a route that exists.
    assert patterns >= PUBLIC_API_ROUTES
    assert {route.pattern for route in SCOPED_API_ROUTES} >= SCOPE_FREE_API_ROUTES
    assert {route.pattern for route in ADMIN_ROUTES} >= set(SITE_ADMIN_ROUTES)


def test_every_registered_model_has_its_admin_pages_generated():
    names = {route.name for route in ADMIN_ROUTES}
    assert len(admin.site._registry) >= 5
    for model in admin.site._registry:
        opts = model._meta
        for view in STANDARD_ADMIN_VIEWS:
            assert f"admin:{opts.app_label}_{opts.model_name}_{view}" in names


def test_every_admin_page_is_a_model_page_or_a_known_site_page():
    unknown = [
        route.pattern for route in ADMIN_ROUTES
        if model_of(route) is None and route.pattern not in SITE_ADMIN_ROUTES
    ]
    assert not unknown, f"classify these admin pages in SITE_ADMIN_ROUTES: {unknown}"


def test_the_generated_methods_are_those_the_views_announce(team_a_user):
    """Each view's answer to OPTIONS names its methods (Allow): the generator agrees."""
    mismatches = []
    for route in API_ROUTES:
        url = url_of(route, {"scope": "team-a", "pk": uuid.uuid4(), "key": MEMORY_KEY,
                             "format": "json"})
        headers = {} if "scope" in route.kwargs else {"HTTP_X_SCOPE": "team-a"}
        response = team_a_user.options(url, **headers)
        if response.status_code >= 500:
            continue  # the tests sending every method name it
        announced = {m.strip().lower() for m in response.get("Allow", "").split(",")}
        if announced - {""} != set(route.methods):
            mismatches.append(f"{url}: Allow {sorted(announced)}, generated {route.methods}")

    assert not mismatches, describe(mismatches)


# --- the API ----------------------------------------------------------------------------

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
            [world.bravo.id, world.bravo_token.pk, world.bravo_consumer.pk]
            if "pk" in route.kwargs else [0]
        )
        for foreign_id in foreign_ids:
            values = {"scope": scope, "pk": foreign_id, "id": foreign_id,
                      "key": world.bravo_provider.key, "format": RENDERERS[renderer]}
            yield route, url_of(route, values), headers


def call(client, method: str, url: str, headers: dict):
    return getattr(client, method)(url, API_BODY, format="json", **headers)


def code_of(response) -> str | None:
    """The error code of an answer, whichever renderer rendered it."""
    payload = payload_of(response)
    return payload.get("code") if isinstance(payload, dict) else None


@pytest.mark.parametrize("renderer", RENDERERS)
def test_anonymous_callers_get_a_json_401_on_every_api_route(world, renderer):
    client = APIClient(raise_request_exception=False)
    markers = {**world.markers(), **{f"alpha {k}": v for k, v in
                                     tenant_markers(world.alpha).items()}}
    problems = []
    for scope, header in SCOPE_FORMS:
        for route, url, headers in api_calls(world, scope, header, renderer):
            for method in ALL_METHODS:
                response = call(client, method, url, headers)
                where = f"{method.upper()} {url} X-Scope={header}: {response.status_code}"
                if found := leaks(shown_by(response), markers):
                    problems.append(f"{where} shows {found}")
                if response.status_code >= 500:
                    problems.append(f"{where} (server error) {body_of(response)[:120]}")
                if route.pattern in PUBLIC_API_ROUTES:
                    continue
                if response.status_code != 401:
                    problems.append(f"{where}, expected 401")
                elif method != "head" and code_of(response) != "not_authenticated":
                    problems.append(f"{where} {body_of(response)[:200]}, expected its code")

    assert not problems, describe(problems)
    world.assert_untouched()


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize(("scope", "header"), SCOPE_FORMS)
def test_every_role_in_team_a_gets_nothing_of_team_b_on_every_api_route(
    world, team_a_user, scope, header, renderer
):
    own = team_a_user.get(f"/api/c/team-a/resources/{world.alpha.id}")
    assert own.status_code == 200  # the caller is let in where it belongs
    markers = world.markers()
    if "team-b" not in (scope, header):  # else the path or header would be echoed back
        markers["scope name"] = "team-b"
    problems = []
    for route, url, headers in api_calls(world, scope, header, renderer):
        for method in route.methods:
            response = call(team_a_user, method, url, headers)
            where = f"{method.upper()} {url} X-Scope={header}: {response.status_code}"
            if found := leaks(shown_by(response), markers):
                problems.append(f"{where} shows team-b's {found}")
            if "pk" in route.kwargs and method != "options" and response.status_code < 400:
                problems.append(f"{where}: team-b's object was accepted")
            if response.status_code >= 500:
                problems.append(f"{where} (server error) {body_of(response)[:120]}")

    assert not problems, describe(problems)
    world.assert_untouched()
    assert_caller_not_escalated(team_a_user.user)


@pytest.mark.parametrize("renderer", RENDERERS)
def test_scoped_api_routes_refuse_scopes_without_a_role_and_malformed_scopes(
    team_a_user, renderer
):
    """403 in a scope the caller has no role in, 400 for a malformed one: whatever the
    route, method or object, except the routes that deliberately ignore the scope."""
    expected = {"team-b": (403, "forbidden"), "Not_A_Scope!": (400, "invalid_scope")}
    problems = []
    for route in SCOPED_API_ROUTES:
        if route.pattern in SCOPE_FREE_API_ROUTES:
            continue
        for scope, (status, code) in expected.items():
            url = url_of(route, {"scope": scope, "pk": uuid.uuid4(), "key": MEMORY_KEY,
                                 "format": RENDERERS[renderer]})
            for method in route.methods:
                response = call(team_a_user, method, url, {"HTTP_ACCEPT": ACCEPT[renderer]})
                if response.status_code != status:
                    problems.append(f"{method.upper()} {url}: {response.status_code}, "
                                    f"expected {status}")
                elif method != "head" and code_of(response) != code:
                    problems.append(f"{method.upper()} {url}: {body_of(response)[:200]}")

    assert not problems, describe(problems)


@pytest.mark.parametrize("renderer", RENDERERS)
def test_methods_a_route_does_not_declare_are_refused_without_a_server_error(
    world, team_a_user, renderer
):
    """With every role in team-a, whatever the renderer asked for, a method the view does
    not declare is refused (4xx), never a 5xx. (The declared methods, and every method of
    an anonymous caller, are sent by the two tests above, which refuse a 5xx as well.)"""
    problems = []
    for scope, header in SCOPE_FORMS:
        for route, url, headers in api_calls(world, scope, header, renderer):
            for method in ALL_METHODS:
                if method in route.methods:
                    continue
                response = call(team_a_user, method, url, headers)
                if not 400 <= response.status_code < 500:
                    problems.append(f"{method.upper()} {url} X-Scope={header}: "
                                    f"{response.status_code} {body_of(response)[:120]}")

    assert not problems, describe(problems)
    world.assert_untouched()


# --- the admin --------------------------------------------------------------------------


def admin_urls(route: Route, world: World) -> list[str]:
    """Concrete URLs of an admin page: per model when its parameters name an object."""
    model = model_of(route)
    if model is not None:
        each_model = [model]
    elif route.kwargs:
        each_model = list(admin.site._registry)
    else:
        each_model = [None]
    urls = []
    for each in each_model:
        values = {}
        if each is not None:
            obj, opts = world.foreign(each), each._meta
            values = {
                "object_id": obj.pk,
                "id": obj.pk,
                "content_type_id": ContentType.objects.get_for_model(each).pk,
                "app_label": opts.app_label,
                "url": f"{opts.app_label}/{opts.model_name}/{obj.pk}",
            }
        url = url_of(route, values)
        if url not in urls:
            urls.append(url)
    return urls


def forged_form(world: World, caller) -> dict:
    """One POST body for every admin form, aimed at team-b (no echo of team-b's values)."""
    return {
        "scope": "team-b",
        "role": Role.ADMIN,
        "username": world.bystander.username,
        "user": caller.pk,
        "provider": Provider.objects.get(key=MEMORY_KEY).pk,
        "name": "intruder",
        "tags": '["pwned"]',
        "tags_text": "pwned",
        "properties": "{}",
        "key": "hijacked",
        "provider_class": "postgresql",
        "host": "127.0.0.1",
        "port": "5432",
        "password": "pwned",
        "options": "{}",
        "allowed_scopes": '["team-a"]',
        "enabled": "on",
        "password1": "pwned-Pa55word!",
        "password2": "pwned-Pa55word!",
        "is_staff": "on",
        "is_superuser": "on",
        "is_active": "on",
        "groups": [world.bravo_group.pk],
        "expires_in_days": "1",
        "post": "yes",
    }


def admin_actions(model) -> list[str]:
    """Names of the bulk actions of ``model``'s changelist, the site-wide ones included."""
    model_admin = admin.site._registry[model]
    own = [a if isinstance(a, str) else a.__name__ for a in model_admin.actions or []]
    return [*(name for name, _ in admin.site.actions), *own]


@pytest.fixture
def admin_browser(world, team_a_user) -> Client:
    browser = Client(raise_request_exception=False)
    browser.force_login(team_a_user.user)
    # Let in, though not staff, and shown its own scope: the pages are really looked at.
    assert browser.get("/admin/").status_code == 200
    own = browser.get(reverse("admin:resourcemanager_resource_changelist"))
    assert world.alpha.name in body_of(own)
    return browser


class AdminInspector:
    """Requests admin pages and collects what they show of team-b."""

    def __init__(self, browser: Client, world: World) -> None:
        self.browser = browser
        self.stored = world.markers()
        self.problems: list[str] = []

    def get(self, url: str, query: dict | None = None) -> None:
        # Without a query nothing the caller sent is echoed: the scope's name is a leak too.
        markers = self.stored if query else {**self.stored, "scope name": "team-b"}
        self._look(self.browser.get(url, query or {}, follow=True), f"GET {url} {query}",
                   markers)

    def post(self, url: str, data: dict) -> None:
        self._look(self.browser.post(url, data, follow=True), f"POST {url} {data}",
                   self.stored)

    def _look(self, response, where: str, markers: dict) -> None:
        where = f"{where}: {response.status_code}"
        if found := leaks(body_of(response), markers):
            self.problems.append(f"{where} shows team-b's {found}")
        if response.status_code >= 500:
            self.problems.append(f"{where} (server error)")


REGISTERED_MODELS = list(admin.site._registry)


@pytest.mark.parametrize("model", REGISTERED_MODELS, ids=lambda m: m._meta.label)
def test_every_role_in_team_a_sees_and_changes_nothing_of_team_b_in_the_admin(
    model, world, team_a_user, admin_browser
):
    inspect = AdminInspector(admin_browser, world)
    form = forged_form(world, team_a_user.user)
    foreign = world.foreign(model)
    routes = [route for route in ADMIN_ROUTES if model_of(route) is model]
    assert routes
    for route in routes:
        for url in admin_urls(route, world):
            inspect.get(url)
            inspect.post(url, form)
            if not (route.name or "").endswith("_changelist"):
                continue
            for query in ({"q": "bravo"}, {"q": world.bravo.id[:8]}, {"all": ""},
                          {"scope__exact": "team-b"}, {"scope": "team-b"}, {"o": "-1"}):
                inspect.get(url, query)
            for action in admin_actions(model):
                inspect.post(url, {"action": action, "post": "yes", "index": 0,
                                   "_selected_action": [foreign.pk]})

    assert not inspect.problems, describe(inspect.problems)
    world.assert_untouched()
    assert_caller_not_escalated(team_a_user.user)


def test_the_admin_s_own_pages_show_nothing_of_team_b(world, team_a_user, admin_browser):
    inspect = AdminInspector(admin_browser, world)
    for route in ADMIN_ROUTES:
        if model_of(route) is None and route.pattern != "admin/logout/":  # stay signed in
            for url in admin_urls(route, world):
                inspect.get(url)
    autocomplete = reverse("admin:autocomplete")
    for model in REGISTERED_MODELS:  # asks for each model's related objects by name
        opts = model._meta
        for related in opts.get_fields():
            if related.is_relation and related.concrete:
                inspect.get(autocomplete, {"app_label": opts.app_label,
                                           "model_name": opts.model_name,
                                           "field_name": related.name, "term": "bravo"})

    assert not inspect.problems, describe(inspect.problems)
    world.assert_untouched()
    assert_caller_not_escalated(team_a_user.user)


#: Site pages that change what the other pages show: each is posted to (aimed at team-b)
#: before every admin page is looked at again, per role.
NARROWING_ADMIN_ROUTES = {"admin/scope/"}


@pytest.mark.parametrize("role", list(Role))
def test_no_role_in_team_a_can_narrow_the_admin_to_team_b(world, make_client, role):
    """The scope switcher, posted team-b or planted with it in the session, leaves every
    admin page showing nothing of team-b."""
    caller = make_client(team_a=role).user
    browser = Client(raise_request_exception=False)
    browser.force_login(caller)
    inspect = AdminInspector(browser, world)
    narrowing = [route for route in ADMIN_ROUTES if route.pattern in NARROWING_ADMIN_ROUTES]
    assert {route.pattern for route in narrowing} == NARROWING_ADMIN_ROUTES
    for route in narrowing:
        for url in admin_urls(route, world):
            inspect.post(url, {**forged_form(world, caller), "next": "/admin/"})
            inspect.post(url, {"scope": "team-b", "next": "https://evil.example/"})
    assert SESSION_KEY not in browser.session
    session = browser.session
    session[SESSION_KEY] = "team-b"
    session.save()
    for route in ADMIN_ROUTES:
        if route.pattern != "admin/logout/" and route.pattern not in NARROWING_ADMIN_ROUTES:
            for url in admin_urls(route, world):
                inspect.get(url)

    assert not inspect.problems, describe(inspect.problems)
    world.assert_untouched()
    assert_caller_not_escalated(caller)


def test_anonymous_browsers_are_sent_to_the_admin_login(world):
    browser = Client(raise_request_exception=False)
    problems = []
    for route in ADMIN_ROUTES:
        for url in admin_urls(route, world):
            response = browser.get(url)
            where = f"GET {url}: {response.status_code}"
            if found := leaks(body_of(response), world.markers()):
                problems.append(f"{where} shows team-b's {found}")
            if route.pattern in PUBLIC_ADMIN_ROUTES:
                continue
            if response.status_code != 302 or not response["Location"].startswith(
                "/admin/login/"
            ):
                problems.append(f"{where}, expected a redirect to the login")

    assert not problems, describe(problems)


def test_team_b_s_objects_look_like_objects_that_never_were_in_the_admin(
    world, admin_browser
):
    """Model pages answer team-b's objects exactly as objects that never existed."""
    differences: dict[str, str] = {}
    for route in ADMIN_ROUTES:
        model = model_of(route)
        if model is None or "object_id" not in route.kwargs or not route.name:
            continue
        never_was = uuid.uuid4() if model in (Resource, Consumer) else 987654321
        for method in ("get", "post"):
            answers = [
                getattr(admin_browser, method)(url_of(route, {"object_id": pk})).status_code
                for pk in (world.foreign(model).pk, never_was)
            ]
            if answers[0] != answers[1]:
                differences[route.name] = (
                    f"{method.upper()} {route.name}: {answers[0]} for team-b's object, "
                    f"{answers[1]} for one that never was"
                )

    assert set(differences) == KNOWN_EXISTENCE_ORACLES, describe(differences.values())
    world.assert_untouched()
