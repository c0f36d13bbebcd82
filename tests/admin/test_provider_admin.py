"""Provider instances in the admin: operators only, secrets encrypted, changes audited."""

import pytest
from django.db import connection
from django.test import Client

from audit.models import AuditEntry
from providers.models import Provider

ADD = "/admin/providers/provider/add/"
CANARY = "provider-admin-canary-77ab"


@pytest.fixture
def operator(transactional_db, django_user_model) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("op", password="x" * 20))
    return client


def form(**fields) -> dict:
    return {"key": "pg-eu", "provider_class": "postgresql", "description": "", "host": "127.0.0.1",
            "port": "5432", "username": "postgres", "password": CANARY, "options": "{}",
            "allowed_scopes": "[]", "enabled": "on"} | fields


def test_operator_adds_an_instance_with_an_encrypted_password(operator):
    response = operator.post(ADD, form())

    assert response.status_code == 302, response.content.decode()[:3000]
    provider = Provider.objects.get(key="pg-eu")
    assert provider.password == CANARY
    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM providers_provider WHERE key = %s", ["pg-eu"])
        assert CANARY not in cursor.fetchone()[0]
    entry = AuditEntry.objects.get(action="provider.create")
    assert (entry.actor, entry.outcome) == ("op", "success")
    assert CANARY not in entry.message + entry.target_name


def test_leaving_the_password_empty_keeps_the_stored_one(operator):
    operator.post(ADD, form())
    provider = Provider.objects.get(key="pg-eu")

    operator.post(f"/admin/providers/provider/{provider.pk}/change/",
                  form(password="", description="changed"))

    provider.refresh_from_db()
    assert (provider.password, provider.description) == (CANARY, "changed")


@pytest.mark.parametrize(
    "options", ['{"bogus": 1}', '{"name_prefix": "Bad-"}', '["not", "an", "object"]']
)
def test_bad_options_are_form_errors(operator, options):
    response = operator.post(ADD, form(options=options))

    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not Provider.objects.exists()


def test_test_connection_action_reports_reachability(operator):
    operator.post(ADD, form())
    operator.post(ADD, form(key="dead", port="1"))
    ids = list(Provider.objects.order_by("key").values_list("pk", flat=True))

    response = operator.post("/admin/providers/provider/", {
        "action": "test_connection", "_selected_action": ids}, follow=True)

    shown = " | ".join(m.message for m in response.context["messages"])
    assert "pg-eu: reachable" in shown
    assert "dead: cannot reach PostgreSQL at 127.0.0.1:1" in shown
    assert CANARY not in shown + response.content.decode()


def test_staff_without_operator_rights_cannot_open_providers(transactional_db,
                                                            django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_user("staff", is_staff=True))

    assert client.get("/admin/providers/provider/").status_code == 403
    assert client.post(ADD, form()).status_code == 403
    assert not Provider.objects.exists()
