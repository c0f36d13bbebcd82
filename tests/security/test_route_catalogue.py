"""The route list the generated isolation tests walk holds what it must, and can fail.

The known API routes and methods, every registered model's admin pages, each admin page
classified, no stale entry in the allow-lists, and the methods generated for each view
being those its answer to OPTIONS announces.
"""

from __future__ import annotations

import uuid

from django.contrib import admin

from tests.security.conftest import MEMORY_KEY
from tests.security.isolation_checks import describe
from tests.security.route_catalogue import (
    ADMIN_ROUTES,
    API_ROUTES,
    PUBLIC_API_ROUTES,
    SCOPE_FREE_API_ROUTES,
    SCOPED_API_ROUTES,
    SITE_ADMIN_ROUTES,
    model_of,
    url_of,
)

STANDARD_ADMIN_VIEWS = ("changelist", "add", "change", "delete", "history")

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
        url = url_of(route, {"scope": "team-a", "pk": uuid.uuid4(), "resource_pk": uuid.uuid4(),
                             "key": MEMORY_KEY, "format": "json"})
        headers = {} if "scope" in route.kwargs else {"HTTP_X_SCOPE": "team-a"}
        response = team_a_user.options(url, **headers)
        if response.status_code >= 500:
            continue  # the tests sending every method name it
        announced = {m.strip().lower() for m in response.get("Allow", "").split(",")}
        if announced - {""} != set(route.methods):
            mismatches.append(f"{url}: Allow {sorted(announced)}, generated {route.methods}")

    assert not mismatches, describe(mismatches)
