"""The consumer admin goes through the service, in the user's own scopes only; its forms
show the builder's properties as fields, and secrets never come back to the browser."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from audit.models import AuditEntry
from consumers.models import Consumer
from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import Role
from resourcemanager.ui.adminscope import SESSION_KEY
from tests.consumers.conftest import SECRET

CHANGELIST = "/admin/consumers/consumer/"
ADD = f"{CHANGELIST}add/"
URL = "http://127.0.0.1:1/h"


def browser_of(django_user_model, username: str, role: Role, *scopes: str) -> Client:
    user = django_user_model.objects.create_user(username, password=None)
    for scope in scopes or ("team-a",):
        ScopeRole.objects.create(user=user, scope=scope, role=role)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def add(client: Client, **fields):
    data = {"scope": "team-a", "builder": "webhook", "name": "hook", "tags_text": "analytics",
            "property_url": URL, "property_secret": SECRET, "property_timeout": "10",
            "credential_access": "read-only", "enabled": "on"} | fields
    return client.post(ADD, data)


def change(client: Client, consumer: Consumer, **fields):
    data = {"name": consumer.name, "tags_text": "", "enabled": "on", "property_url": URL,
            "property_secret": "", "property_timeout": "10",
            "credential_access": consumer.credential_access} | fields
    return client.post(f"{CHANGELIST}{consumer.pk}/change/", data)


def secret_input(page: str) -> str:
    return re.search(r'<input [^>]*name="property_secret"[^>]*>', page).group(0)


@pytest.fixture
def consumer_admin(committing_db, django_user_model) -> Client:
    return browser_of(django_user_model, "ca", Role.CONSUMER_ADMIN)


def test_add_and_change_go_through_the_service_and_never_show_the_secret(consumer_admin):
    response = add(consumer_admin, resource_types=["sql", "object"])

    assert response.status_code == 302, response.content.decode()[:2000]
    consumer = Consumer.objects.get()
    assert (consumer.tags, consumer.resource_types) == (["analytics"], ["sql", "object"])
    assert consumer.properties == {"url": URL, "secret": SECRET, "timeout": 10,
                                   "include_credentials": False}
    page = consumer_admin.get(f"{CHANGELIST}{consumer.pk}/change/").content.decode()
    assert SECRET not in page
    assert 'type="password"' in secret_input(page) and "value=" not in secret_input(page)
    assert re.search(rf'<input [^>]*name="property_url"[^>]*value="{re.escape(URL)}"', page)

    changed = change(consumer_admin, consumer, name="renamed", property_timeout="30")

    assert changed.status_code == 302, changed.content.decode()[:2000]
    consumer.refresh_from_db()
    assert (consumer.name, consumer.tags) == ("renamed", [])
    assert (consumer.properties["secret"], consumer.properties["timeout"]) == (SECRET, 30)
    actions = set(AuditEntry.objects.values_list("action", "actor"))
    assert {("consumer.create", "ca"), ("consumer.update", "ca")} <= actions


def test_a_secret_typed_again_is_saved(consumer_admin):
    add(consumer_admin)
    consumer = Consumer.objects.get()

    assert change(consumer_admin, consumer, property_secret="whsec-new").status_code == 302

    consumer.refresh_from_db()
    assert consumer.properties["secret"] == "whsec-new"


def test_a_form_with_errors_never_renders_the_typed_secret(consumer_admin):
    response = add(consumer_admin, name="bad name!")

    page = response.content.decode()
    assert response.status_code == 200 and "errornote" in page
    assert SECRET not in page and "value=" not in secret_input(page)


def test_a_bad_url_is_a_form_error(consumer_admin):
    typo = add(consumer_admin, property_url="not a url")
    ftp = add(consumer_admin, property_url="ftp://127.0.0.1/h")

    assert typo.status_code == 200
    assert "url" in typo.context["adminform"].form.errors.get("property_url", [""])[0].lower()
    assert ftp.status_code == 200 and "must be an http(s) URL" in ftp.content.decode()
    assert not Consumer.objects.exists()


def test_the_add_form_shows_the_chosen_builder_s_properties(consumer_admin):
    fields = consumer_admin.get(f"{ADD}?builder=webhook").context["adminform"].form.fields

    assert {"property_url", "property_secret", "property_include_credentials",
            "property_timeout"} <= set(fields)
    assert fields["property_url"].required and fields["property_timeout"].initial == 10
    assert fields["property_secret"].help_text.startswith("Key of the HMAC")
    assert fields["credential_access"].initial == "read-only"
    log = consumer_admin.get(f"{ADD}?builder=log").context["adminform"].form.fields
    assert not [name for name in log if name.startswith("property_")]


def test_the_form_holds_the_schema_s_bounds_and_choices(consumer_admin):
    too_long = add(consumer_admin, property_timeout="999")
    superset = consumer_admin.get(f"{ADD}?builder=superset").context["adminform"].form.fields

    assert too_long.status_code == 200
    assert "property_timeout" in too_long.context["adminform"].form.errors
    assert not Consumer.objects.exists()
    assert [value for value, _ in superset["property_provider"].choices] == ["db", "ldap"]
    assert superset["property_provider"].initial == "db"


def test_without_javascript_a_button_switches_the_builder_keeping_what_was_typed(
    consumer_admin,
):
    response = consumer_admin.post(ADD, {
        "scope": "team-a", "builder": "sqlpad", "name": "tool", "tags_text": "x",
        "resource_types": ["sql", "nosql"], "property_url": URL, "property_secret": SECRET,
        "property_timeout": "30", "_rm_choose": "",
    })

    assert response.status_code == 302
    assert SECRET not in response["Location"]
    page = consumer_admin.get(response["Location"])
    form = page.context["adminform"].form
    assert (form["builder"].value(), form["name"].value()) == ("sqlpad", "tool")
    assert form["resource_types"].value() == ["sql", "nosql"]
    assert (form["property_url"].value(), form["property_timeout"].value()) == (URL, "30")
    assert "property_api_token" in form.fields and "property_secret" not in form.fields
    assert not Consumer.objects.exists()


def test_the_add_form_offers_the_scopes_where_one_may_manage_consumers(
    committing_db, django_user_model,
):
    client = browser_of(django_user_model, "two", Role.CONSUMER_ADMIN, "team-a", "team-b")
    ScopeRole.objects.create(user=django_user_model.objects.get(username="two"),
                             scope="team-c", role=Role.USER)
    session = client.session
    session[SESSION_KEY] = "team-b"
    session.save()

    form = client.get(ADD).context["adminform"].form

    assert [value for value, _ in form.fields["scope"].choices] == ["team-a", "team-b"]
    assert form["scope"].value() == "team-b"
    assert add(client, scope="team-c").status_code == 200
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


def test_the_access_level_of_the_consumer_s_logins_is_chosen_in_the_form(consumer_admin):
    wrong = add(consumer_admin, credential_access="superuser")
    right = add(consumer_admin, credential_access="owner")

    assert wrong.status_code == 200 and "credential_access" in wrong.context[
        "adminform"].form.errors
    assert right.status_code == 302
    consumer = Consumer.objects.get()
    assert consumer.credential_access == "owner"
    assert change(consumer_admin, consumer, credential_access="read-write").status_code == 302
    consumer.refresh_from_db()
    assert consumer.credential_access == "read-write"
