"""Anonymous callers on every API route the URL conf declares, with every method.

Each gets a JSON 401 with its code unless the route is in ``PUBLIC_API_ROUTES``; none
reads anything of team-b or team-a, gets a 5xx, or changes anything of team-b. Each
route is sent in every way of naming a scope, asking for JSON and the browsable API.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.security.api_probing import RENDERERS, SCOPE_FORMS, api_calls, call, code_of
from tests.security.foreign_world import foreign_world  # noqa: F401 (fixture world)
from tests.security.isolation_checks import body_of, describe, leaks, shown_by, tenant_markers
from tests.security.route_catalogue import ALL_METHODS, PUBLIC_API_ROUTES


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
