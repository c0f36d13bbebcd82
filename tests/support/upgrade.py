"""An installation of an earlier version, upgraded: ``python -m tests.support.upgrade earlier``
(or ``latest``).

Migrates an empty database to the schema of an earlier version, fills it through that
version's (historical) models, runs ``manage.py migrate`` and prints, as JSON, what the
current code reads back. The database comes from ``DATABASE_URL``. Models are imported
in the functions, once ``django.setup()`` has run.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import uuid
from datetime import timedelta

import django

APPS = ("resourcemanager", "providers", "consumers", "audit")
#: The schemas an installation may come from: before the operation leases, the delivery
#: leases and the claim roles; and the latest migrations (None), which the code's
#: reorganisation into packages left as they were.
STARTING_POINTS: dict[str, list[tuple[str, str]] | None] = {
    "earlier": [
        ("resourcemanager", "0005_api_token_verbose_name"),
        ("providers", "0002_default_and_reachability"),
        ("consumers", "0001_initial"),
        ("audit", "0001_initial"),
    ],
    "latest": None,
}
RESOURCE_ID = uuid.UUID("6a1f0e0e-5c53-4d55-9a43-3b0c56a0c001")
CONSUMER_ID = uuid.UUID("6a1f0e0e-5c53-4d55-9a43-3b0c56a0c002")
TOKEN = "rmt_upgrade-test-token-0123456789abcdef"
CREDENTIALS = {"username": "rt_team_a_orders", "password": "s3cret-Upgr4de"}
PROVIDER_PASSWORD = "admin-Upgr4de"


def as_earlier(value: object):
    """``value`` stored as the versions before per-scope data keys did: a bare Fernet token
    under the first key of RM_ENCRYPTION_KEYS (JSON unless a string)."""
    from cryptography.fernet import Fernet
    from django.conf import settings
    from django.db.models import TextField, Value

    text = value if isinstance(value, str) else json.dumps(value)
    token = Fernet(settings.RM_ENCRYPTION_KEYS[0].encode()).encrypt(text.encode()).decode()
    return Value(token, output_field=TextField())


def fill_earlier_version(starting_point: list[tuple[str, str]] | None) -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    executor = MigrationExecutor(connection)
    if starting_point is None:
        starting_point = [node for node in executor.loader.graph.leaf_nodes()
                          if node[0] in APPS]
    executor.migrate(starting_point)
    executor.loader.build_graph()
    old = executor.loader.project_state(starting_point).apps
    user = old.get_model("auth", "User").objects.create(username="alice")
    provider = old.get_model("providers", "Provider").objects.create(
        key="pg-main", provider_class="postgresql", host="db.example", port=5432,
        username="admin", password=as_earlier(PROVIDER_PASSWORD), options={"name_prefix": "rt"},
    )
    old.get_model("resourcemanager", "Resource").objects.create(
        id=RESOURCE_ID, scope="team-a", name="orders", provider=provider,
        backend_name="rt_team_a_orders", status="ready", tags=["prod"],
        credentials=as_earlier(CREDENTIALS), created_by=user,
    )
    old.get_model("resourcemanager", "ScopeRole").objects.create(
        user=user, scope="team-a", role="ADMIN"
    )
    token_model = old.get_model("resourcemanager", "ApiToken")
    token_model.objects.create(
        user=user, name="ci", hint=TOKEN[:12], digest=_digest(TOKEN),
        expires_at=timezone.now() + timedelta(days=1),
    )
    old.get_model("resourcemanager", "OutboxMessage").objects.create(
        kind="event", name="resource.created", scope="team-a", resource_id=RESOURCE_ID,
        payload={"actor": "alice"},
    )
    consumer = old.get_model("consumers", "Consumer").objects.create(
        id=CONSUMER_ID, scope="team-a", builder="webhook", name="hook",
        properties=as_earlier({"url": "https://hooks.example/rm", "secret": "hook-s3cret"}),
    )
    old.get_model("consumers", "Consumer").objects.create(
        scope="team-a", builder="webhook", name="sender",
        properties=as_earlier({"url": "https://hooks.example/rm", "secret": "hook-s3cret",
                               "include_credentials": True}),
    )
    old.get_model("consumers", "Delivery").objects.create(
        consumer=consumer, event="resource.created", resource_id=RESOURCE_ID,
        resource={"id": str(RESOURCE_ID)}, provider_class="postgresql",
        occurred_at=timezone.now(),
    )
    old.get_model("audit", "AuditEntry").objects.create(
        actor="alice", action="resource.create", outcome="success", scope="team-a",
        target_type="resource", target_id=str(RESOURCE_ID), message="orders",
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def read_back() -> dict[str, object]:
    from audit.models import AuditEntry
    from consumers.models import Consumer, Delivery
    from providers.models import Provider
    from resourcemanager.identity.access import principal_for
    from resourcemanager.identity.roles import Action
    from resourcemanager.identity.tokens import authenticate_token
    from resourcemanager.outbox.models import OutboxMessage
    from resourcemanager.resources.models import Credential, Resource

    resource = Resource.objects.get(pk=RESOURCE_ID)
    token = authenticate_token(TOKEN)
    user = token.user if token else None
    principal = principal_for(user)
    visible = Resource.objects.visible_to(principal, Action.VIEW_RESOURCE, "team-a")
    consumer = Consumer.objects.get(pk=CONSUMER_ID)
    return {
        "resource": [resource.name, resource.status, resource.tags, resource.credentials],
        "lease": [resource.operation, resource.attempts, resource.lease_id],
        "provider_password": Provider.objects.get(key="pg-main").password,
        "token_user": user.username if user else None,
        "visible_to_alice": [r.name for r in visible],
        "outbox": list(OutboxMessage.objects.values_list("name", "handled_at")),
        "consumer_secret": consumer.properties["secret"],
        "credential_access": dict(Consumer.objects.values_list("name", "credential_access")),
        "deliveries": list(Delivery.objects.values_list("event", "status")),
        "audit": list(AuditEntry.objects.values_list("action", "target_id")),
        "credentials": [[each.holder, each.access, each.login, each.status, each.secret]
                        for each in Credential.objects.all()],
    }


def main() -> None:
    django.setup()
    from django.core.management import call_command

    from resourcemanager.core.key_rotation import legacy_values

    fill_earlier_version(STARTING_POINTS[sys.argv[1]])
    out = io.StringIO()
    call_command("migrate", interactive=False, stdout=out)
    call_command("migrate", check=True, stdout=out)  # nothing left unapplied
    found = read_back()
    # Values from before per-scope data keys read as they are; the command moves them.
    call_command("rotate_encryption_keys", stdout=out)
    found["moved"] = {"legacy_left": legacy_values(), "same": read_back() == found}
    print(json.dumps(found, default=str))


if __name__ == "__main__":
    main()
