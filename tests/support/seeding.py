"""Ready resources made directly on a server with the adapter, for sweep and orphan tests.

A fixture shortcut, not a lifecycle path: the record is written as CREATE leaves it.
"""

from __future__ import annotations

import secrets

from providers.adapters.naming import new_backend_name, new_password
from providers.models import Provider
from resourcemanager.resources.models import Resource
from tests.support.leaks import SESSION_PREFIX


def unique_prefix() -> str:
    """A name prefix no one else uses on the shared test servers: a test that drops
    orphans by prefix then touches only what it made itself. It starts with this
    session's tag, so whatever it leaves is reported (tests.support.leaks)."""
    return f"{SESSION_PREFIX}{secrets.token_hex(2)}_"


def ready_resource(provider: Provider, name: str, *, scope: str = "team-a") -> Resource:
    adapter = provider.adapter()
    backend_name = new_backend_name(adapter.name_prefix)
    credentials = adapter.create(backend_name, new_password(), {})
    return Resource.objects.create(
        scope=scope, provider=provider, type=provider.resource_type, name=name,
        backend_name=backend_name, status=Resource.Status.READY,
        credentials=credentials.as_dict(),
    )
