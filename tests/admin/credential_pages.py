"""What the credential admin tests share: a ready resource on the scram cluster, its
credentials issued through the service, and the pages' addresses."""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest
from django.urls import reverse

from resourcemanager.identity.roles import SYSTEM
from resourcemanager.resources import credentials
from resourcemanager.resources.models import Credential, Resource
from tests.admin.conftest import ready_resource

CHANGELIST = reverse("admin:resourcemanager_credential_changelist")


def resource_page(resource: Resource) -> str:
    return reverse("admin:resourcemanager_resource_change", args=[resource.pk])


def issue_url(resource: Resource) -> str:
    return reverse("admin:resourcemanager_resource_issue_credential", args=[resource.pk])


def page(credential: Credential | uuid.UUID) -> str:
    """The credential's page (or that of an id, which may be no credential's)."""
    return reverse("admin:resourcemanager_credential_change",
                   args=[getattr(credential, "pk", credential)])


def operation(credential: Credential | uuid.UUID, name: str) -> str:
    return reverse(f"admin:resourcemanager_credential_{name}",
                   args=[getattr(credential, "pk", credential)])


def shown_password(html: str) -> str:
    """The password field of a secret page."""
    return re.search(r'id="rm-password" value="([^"]+)"', html)[1]


def login(fields: dict) -> psycopg.Connection:
    return psycopg.connect(host=fields["host"], port=fields["port"], user=fields["username"],
                           password=fields["password"], dbname=fields["database"],
                           autocommit=True, connect_timeout=5)


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


@pytest.fixture(name="orders")
def scram_orders(scram_provider) -> Resource:
    """A ready resource of team-a on the scram cluster, made through the service."""
    return ready_resource("pg-scram")


def issued(resource: Resource, **options) -> tuple[Credential, dict]:
    credential, secret = credentials.issue_credential(
        SYSTEM, resource, **{"holder": "reports", "access": "read-only", **options})
    credential.refresh_from_db()
    assert credential.status == Credential.Status.ACTIVE
    return credential, secret.as_dict()
