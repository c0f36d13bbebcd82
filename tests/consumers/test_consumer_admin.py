"""The consumer admin goes through the service, in the user's own scopes only."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from audit.models import AuditEntry
from consumers.models import Consumer
from resourcemanager.access import Role
from resourcemanager.models import ScopeRole
from tests.consumers.conftest import SECRET

CHANGELIST = "/admin/consumers/consumer/"


def browser_of(django_user_model, username: str, role: Role) -> Client:
    user = django_user_model.objects.create_user(username, password=None)
    ScopeRole.objects.create(user=user, scope="team-a", role=role)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def add(client: Client, **fields):
    data = {"scope": "team-a", "builder": "webhook", "name": "hook", "tags_text": "analytics",
            "properties": json.dumps({"url": "http://127.0.0.1:1/h", "secret": SECRET}),
            "enabled": "on"} | fields
    return client.post(f"{CHANGELIST}add/", data)


@pytest.fixture
def consumer_admin(transactional_db, django_user_model) -> Client:
    return browser_of(django_user_model, "ca", Role.CONSUMER_ADMIN)


def test_add_and_change_go_through_the_service_and_never_show_the_secret(consumer_admin):
    response = add(consumer_admin)

    assert response.status_code == 302, response.content.decode()[:2000]
    consumer = Consumer.objects.get()
    assert (consumer.tags, consumer.properties["secret"]) == (["analytics"], SECRET)
    page = consumer_admin.get(f"{CHANGELIST}{consumer.pk}/change/").content.decode()
    assert "********" in page
    assert SECRET not in page

    changed = consumer_admin.post(f"{CHANGELIST}{consumer.pk}/change/", {
        "name": "renamed", "tags_text": "", "enabled": "on",
        "properties": json.dumps({"url": "http://127.0.0.1:1/h", "secret": "********"}),
    })

    assert changed.status_code == 302, changed.content.decode()[:2000]
    consumer.refresh_from_db()
    assert (consumer.name, consumer.tags, consumer.properties["secret"]) == (
        "renamed", [], SECRET
    )
    actions = set(AuditEntry.objects.values_list("action", "actor"))
    assert {("consumer.create", "ca"), ("consumer.update", "ca")} <= actions


def test_the_add_form_refuses_other_scopes_and_bad_properties(consumer_admin):
    foreign = add(consumer_admin, scope="team-b")
    invalid = add(consumer_admin, properties=json.dumps({"url": "http://h/", "nope": 1}))

    assert foreign.status_code == 200 and "no role in this scope" in foreign.content.decode()
    assert invalid.status_code == 200 and "unknown properties" in invalid.content.decode()
    assert not Consumer.objects.exists()


def test_a_user_sees_consumers_but_cannot_add_them(consumer_admin, django_user_model):
    add(consumer_admin)
    user = browser_of(django_user_model, "u", Role.USER)

    assert "hook" in user.get(CHANGELIST).content.decode()
    assert user.get(f"{CHANGELIST}add/").status_code == 403
    assert add(user, name="other").status_code == 403
    assert Consumer.objects.count() == 1


def test_read_only_pages_never_show_the_secret(consumer_admin, django_user_model):
    """A USER views consumers read-only: the stored secret must stay masked there too."""
    add(consumer_admin)
    consumer = Consumer.objects.get()
    user = browser_of(django_user_model, "u", Role.USER)

    page = user.get(f"{CHANGELIST}{consumer.pk}/change/")

    assert page.status_code == 200
    assert SECRET not in page.content.decode()
    assert "********" in page.content.decode()
    assert "http://127.0.0.1:1/h" in page.content.decode()  # the rest is shown
