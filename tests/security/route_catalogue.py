"""The routes the URL conf declares, walked from ``django.urls.get_resolver()``.

Every API route (``/api/…`` and ``/api/c/<scope>/…``, format suffixes included) and every
admin page, with the methods its view accepts, and the allow-lists the generated tests
read: the API routes open to anonymous callers, the scoped routes that ignore the scope,
the admin's own pages and those an anonymous browser may see. A route whose parameters
``url_of`` cannot fill fails with a message saying what to teach it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

ALL_METHODS = ("get", "head", "options", "post", "put", "patch", "delete")

#: API routes an anonymous caller may use (full URL-conf patterns). Every other route
#: under /api/ must answer an anonymous caller with a JSON 401.
PUBLIC_API_ROUTES = {
    # The OpenAPI document, its Swagger UI and ReDoc: they describe the routes and hold
    # no data.
    "api/schema/",
    "api/docs/",
    "api/redoc/",
    # Browser sign-in through the identity provider: starting it and coming back from it
    # happen before the caller has a session.
    "api/auth/login",
    "api/auth/callback",
    # Ends the session: an anonymous caller has none and is redirected like everyone.
    "api/auth/logout",
    # Export links: the signed token in the query string is the credential (its own
    # tests: tests/api/test_export_links.py); without one the answer is a 404.
    "api/exports/",
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

