"""Tenants read a backend failure as a neutral sentence with a reference; operators read
the server's detail (admin, logs) under the same reference. The detail names the shared
server's address and admin account, which no tenant may learn."""

from __future__ import annotations

import logging
import re

import pytest
from django.test import Client
from django.urls import reverse

from providers.services import ping_provider
from resourcemanager.identity.roles import Role
from resourcemanager.resources.failures import reference
from resourcemanager.resources.models import Resource

TEAM_A = "/api/c/team-a/resources"
UNREACHABLE = re.compile(r"the PostgreSQL server could not be reached \(ref ([0-9a-f]{8})\)")
DETAIL = "cannot reach PostgreSQL at 127.0.0.1:1"


@pytest.fixture
def down(pg_provider):
    """The PostgreSQL instance, pointed at a port nothing listens on."""
    pg_provider.port = 1
    pg_provider.username = "platform_admin_zq"
    pg_provider.save()
    return pg_provider


def assert_neutral(message: str) -> str:
    """The message is the neutral sentence; returns its reference."""
    found = UNREACHABLE.fullmatch(message)
    assert found, message
    for operator_detail in ("127.0.0.1", ":1", "platform_admin_zq", "cannot reach"):
        assert operator_detail not in message
    return found[1]


def logged_with(caplog, ref: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and f"(ref {ref})" in r.getMessage()]


def test_a_failed_creation_shows_tenants_a_reference_the_log_explains(make_client, down,
                                                                      caplog):
    client = make_client(team_a=Role.RESOURCE_ADMIN)

    with caplog.at_level(logging.WARNING):
        body = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json").json()

    ref = assert_neutral(body["status_message"])
    assert assert_neutral(client.get(f"{TEAM_A}/{body['id']}").json()["status_message"]) == ref
    assert any(DETAIL in line for line in logged_with(caplog, ref))
    stored = Resource.objects.get(pk=body["id"]).status_message
    assert stored.startswith(DETAIL) and reference(stored) == ref  # operators keep it


def test_a_failed_check_is_neutral_to_tenants(make_client, pg_provider, caplog):
    client = make_client(team_a=Role.RESOURCE_ADMIN)
    created = client.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json").json()
    pg_provider.port = 1
    pg_provider.save()

    with caplog.at_level(logging.WARNING):
        client.post(f"{TEAM_A}/{created['id']}/check")
    check = client.get(f"{TEAM_A}/{created['id']}").json()["last_check"]

    assert check["ok"] is False
    ref = assert_neutral(check["message"])
    assert any(DETAIL in line for line in logged_with(caplog, ref))


def test_reachability_is_neutral_to_tenants(make_client, down, caplog):
    with caplog.at_level(logging.WARNING):
        ping_provider(down)

    listed = make_client(team_a=Role.USER).get("/api/c/team-a/providers").json()

    assert listed[0]["reachability"]["ok"] is False
    ref = assert_neutral(listed[0]["reachability"]["message"])
    assert any(DETAIL in line for line in logged_with(caplog, ref))


def test_the_admin_shows_the_detail_to_operators_only(make_client, down):
    tenant = make_client(team_a=Role.RESOURCE_ADMIN)
    created = tenant.post(TEAM_A, {"provider": "pg", "name": "orders"}, format="json").json()
    operator = make_client(operator=True)
    pages = {}
    for who, client in (("tenant", tenant), ("operator", operator)):
        browser = Client()
        browser.force_login(client.user)
        pages[who] = {
            "resource": browser.get(reverse("admin:resourcemanager_resource_change",
                                            args=[created["id"]])).content.decode(),
            "dashboard": browser.get(reverse("admin:index")).content.decode(),
            "provider": browser.get(reverse("admin:providers_provider_change",
                                            args=[down.pk])).content.decode(),
        }
    ping_provider(down)
    for who, client in (("tenant", tenant), ("operator", operator)):
        browser = Client()
        browser.force_login(client.user)
        pages[who]["provider"] = browser.get(reverse("admin:providers_provider_change",
                                                     args=[down.pk])).content.decode()

    for page, text in pages["tenant"].items():
        assert DETAIL not in text, page
        assert "platform_admin_zq" not in text, page
    assert UNREACHABLE.search(pages["tenant"]["resource"])
    assert UNREACHABLE.search(pages["tenant"]["dashboard"])
    assert UNREACHABLE.search(pages["tenant"]["provider"])
    for page in ("resource", "provider"):
        assert DETAIL in pages["operator"][page], page
