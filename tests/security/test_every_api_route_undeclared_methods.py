"""Methods an API route does not declare are refused (4xx), never a server error.

Sent by a user with every role in team-a, on every API route, in every way of naming a
scope and for both renderers; nothing of team-b changes.
"""

from __future__ import annotations

import pytest

from tests.security.api_probing import RENDERERS, SCOPE_FORMS, api_calls, call
from tests.security.foreign_world import foreign_world  # noqa: F401 (fixture world)
from tests.security.isolation_checks import body_of, describe
from tests.security.route_catalogue import ALL_METHODS


@pytest.mark.parametrize("renderer", RENDERERS)
def test_methods_a_route_does_not_declare_are_refused_without_a_server_error(
    world, team_a_user, renderer
):
    """With every role in team-a, whatever the renderer asked for, a method the view does
    not declare is refused (4xx), never a 5xx. (The declared methods, and every method of
    an anonymous caller, are sent by test_every_api_route_foreign_scope and
    test_every_api_route_anonymous, which refuse a 5xx as well.)"""
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
