"""Isolation on every admin page: pages of every registered model and the site's own.

A user with every role in team-a (not staff: the admin site admits anyone with a role)
never sees team-b's resource, credential, memberships, audit entries, token, owner,
group or reserved provider; its forged changes, deletions, grants and bulk actions leave them as
they were; no role can narrow the pages to team-b; team-b's objects answer as objects
that never were. Anonymous browsers are sent to the login.
"""

from __future__ import annotations

import uuid

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse

from consumers.models import Consumer
from providers.models import Provider
from resourcemanager.identity.roles import Role
from resourcemanager.resources.models import Credential, Resource
from resourcemanager.ui.adminscope import SESSION_KEY
from tests.security.conftest import MEMORY_KEY
from tests.security.foreign_world import World, foreign_world  # noqa: F401 (fixture world)
from tests.security.isolation_checks import assert_caller_not_escalated, body_of, describe, leaks
from tests.security.route_catalogue import (
    ADMIN_ROUTES,
    PUBLIC_ADMIN_ROUTES,
    Route,
    model_of,
    url_of,
)

#: Admin pages that answer an object of another scope differently from one that never
#: existed. None: platform rows (providers, users, groups) are invisible to non-operators,
#: so even Django's history view, which looks the object up first, cannot tell them apart.
KNOWN_EXISTENCE_ORACLES: set[str] = set()


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
        never_was = uuid.uuid4() if model in (Resource, Consumer, Credential) else 987654321
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
