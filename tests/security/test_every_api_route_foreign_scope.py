"""A user with every role in team-a, on every API route, aiming at team-b.

In every way of naming a scope and with every method its view declares, it never reads
anything of team-b, no route accepts team-b's objects, nothing of team-b changes and the
caller gains nothing; no answer is a 5xx. A scope it has no role in is refused (403), a
malformed one too (400), on every scoped route.
"""

from __future__ import annotations

import uuid

import pytest

from tests.security.api_probing import RENDERERS, SCOPE_FORMS, api_calls, call, code_of
from tests.security.conftest import MEMORY_KEY
from tests.security.foreign_world import foreign_world  # noqa: F401 (fixture world)
from tests.security.isolation_checks import (
    ACCEPT,
    assert_caller_not_escalated,
    body_of,
    describe,
    leaks,
    shown_by,
)
from tests.security.route_catalogue import SCOPE_FREE_API_ROUTES, SCOPED_API_ROUTES, url_of


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
            url = url_of(route, {"scope": scope, "pk": uuid.uuid4(), "resource_pk": uuid.uuid4(),
                                 "key": MEMORY_KEY, "format": RENDERERS[renderer]})
            for method in route.methods:
                response = call(team_a_user, method, url, {"HTTP_ACCEPT": ACCEPT[renderer]})
                if response.status_code != status:
                    problems.append(f"{method.upper()} {url}: {response.status_code}, "
                                    f"expected {status}")
                elif method != "head" and code_of(response) != code:
                    problems.append(f"{method.upper()} {url}: {body_of(response)[:200]}")

    assert not problems, describe(problems)
