"""Admin tests: signed-in browsers (Django's test client) of users holding given roles."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import SYSTEM, Role
from resourcemanager.resources import services
from resourcemanager.resources.models import Resource
from tests.support.fast_commits import rolled_back_api_db  # noqa: F401 (fixture api_db)


@pytest.fixture
def admin_browser(committing_db, django_user_model) -> Callable[..., Client]:
    """``admin_browser(team_a=Role.USER)``: a signed-in browser of a new, non-staff user
    with those roles; ``operator=True`` makes a superuser. ``client.user`` is the user."""
    counter = iter(range(1_000_000))

    def make(*, operator: bool = False, **roles: Role) -> Client:
        name = f"web{next(counter)}"
        create = (django_user_model.objects.create_superuser if operator
                  else django_user_model.objects.create_user)
        user = create(name, password=None)
        for scope, role in roles.items():
            ScopeRole.objects.create(user=user, scope=scope.replace("_", "-"), role=role)
        client = Client()
        client.force_login(user)
        client.user = user
        return client

    return make


def ready_resource(provider: str, name: str = "orders") -> Resource:
    """A ready resource of team-a on instance ``provider``, made through the service."""
    request = services.prepare_resource(SYSTEM, "team-a", provider=provider, name=name)
    resource = services.create_resource(SYSTEM, request)
    resource.refresh_from_db()
    assert resource.status == Resource.Status.READY
    return resource
