"""The rules around a consumer's own logins: who may name a consumer as holder, the access
setting and its checks, a delivery waiting for its login or failing with it, and the
upgrade of existing consumers."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.utils import timezone

from consumers import credentials as consumer_credentials
from consumers import deliveries
from consumers.models import Consumer, Delivery
from providers.adapters.naming import new_login_name, new_password
from resourcemanager.core.errors import InvalidInput
from resourcemanager.resources import credential_runs
from resourcemanager.resources.models import Credential, Resource
from tests.consumers.conftest import TEAM_A, add_consumer, add_webhook, create_resource
from tests.support.credentials import issued_credentials

upgrade = importlib.import_module("consumers.migrations.0003_credential_access")


def issue(client, resource: dict, scope: str = "team-a", **body):
    return client.post(f"/api/c/{scope}/resources/{resource['id']}/credentials", body,
                       format="json")


def test_a_request_naming_a_consumer_as_holder_is_refused_whichever_it_names(
    owner, pg_provider
):
    resource = create_resource(owner)
    ours = add_consumer(owner, builder="log", name="ours")
    theirs = add_consumer(owner, "team-b", builder="log", name="theirs")

    for holder in (f"consumer:{ours['id']}", f"consumer:{theirs['id']}", "consumer:nope"):
        answer = issue(owner, resource, holder=holder, access="read-only")
        assert answer.status_code == 400, answer.json()
        assert "issued by the consumer's own deliveries" in answer.json()["fields"]["holder"][0]
    assert not issued_credentials().exists()


def test_a_consumer_is_never_given_a_login_on_another_scope_s_resource(owner, pg_provider):
    resource = create_resource(owner)
    foreign = add_consumer(owner, "team-b", builder="log", name="theirs")

    with pytest.raises(InvalidInput) as refused:
        consumer_credentials.own_credential(Consumer.objects.get(pk=foreign["id"]),
                                            Resource.objects.get(pk=resource["id"]))

    assert refused.value.field == "holder"
    assert "is not of the scope team-a" in refused.value.message
    assert not issued_credentials().exists()


def test_the_access_level_defaults_to_the_builder_s_and_is_checked(owner, webhook_server):
    consumer = add_webhook(owner, webhook_server)
    url = f"{TEAM_A}/consumers/{consumer['id']}"
    builders = {b["key"]: b for b in owner.get(f"{TEAM_A}/builders").json()}

    wrong = owner.patch(url, {"credential_access": "superuser"}, format="json")
    right = owner.patch(url, {"credential_access": "read-write"}, format="json")

    assert consumer["credential_access"] == builders["webhook"]["credential_access"]
    assert builders["sqlpad"]["credential_access"] == "read-only"
    assert (wrong.status_code, wrong.json()["code"]) == (400, "invalid_input")
    assert "read-only, read-write, owner" in wrong.json()["fields"]["credential_access"][0]
    assert right.json()["credential_access"] == "read-write"
    created = owner.post(f"{TEAM_A}/consumers", {"builder": "log", "name": "x",
                                                 "credential_access": "all"}, format="json")
    assert (created.status_code, list(created.json()["fields"])) == (400, ["credential_access"])


def pending_delivery(owner, server) -> tuple[Delivery, Resource]:
    """A delivery never attempted, of a ready resource to a webhook sending credentials."""
    consumer = add_webhook(owner, server, include_credentials=True, enabled=False)
    created = create_resource(owner)
    Consumer.objects.filter(pk=consumer["id"]).update(enabled=True)
    delivery = Delivery.objects.create(
        consumer_id=consumer["id"], event="resource.created", resource_id=created["id"],
        resource={"id": created["id"], "name": "orders", "type": "sql", "tags": []},
        provider_class="postgresql", occurred_at=timezone.now(),
    )
    return delivery, Resource.objects.select_related("provider").get(pk=created["id"])


def own_login_row(delivery: Delivery, resource: Resource, **fields) -> Credential:
    """The consumer's credential as issuing leaves it before its run."""
    adapter, login = resource.provider.adapter(), new_login_name(resource.backend_name)
    secret = adapter.credentials(adapter.object_name(resource.backend_name), new_password(),
                                 login=login)
    return Credential.objects.create(
        scope="team-a", resource=resource, holder=f"consumer:{delivery.consumer_id}",
        access="read-only", login=login, secret=secret.as_dict(), issued_by="system",
        **fields)


def in_7s(attempt: int) -> float:
    return 7


def test_a_delivery_waits_for_the_login_being_issued(owner, pg_provider, webhook_server):
    delivery, resource = pending_delivery(owner, webhook_server)
    issuing = own_login_row(delivery, resource)

    with pytest.raises(deliveries.RetryDelivery):
        deliveries.deliver(delivery.pk, in_process=False, backoff=in_7s)

    delivery.refresh_from_db()
    assert (delivery.status, webhook_server.requests) == ("pending", [])
    assert delivery.last_error == "its own read-only login to the resource is being issued"
    credential_runs.run_credential_operation(str(resource.pk), str(issuing.pk), "issue",
                                             actor="system")
    deliveries.deliver(delivery.pk, in_process=False, backoff=in_7s)
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert webhook_server.requests[0].json()["credentials"]["username"] == issuing.login
    assert issued_credentials().count() == 1


def test_a_failed_login_fails_the_delivery_and_a_sync_issues_another(
    owner, pg_provider, webhook_server
):
    delivery, resource = pending_delivery(owner, webhook_server)
    detail = f"PostgreSQL at {pg_provider.host}:{pg_provider.port}: refused"
    failed = own_login_row(delivery, resource, status="error", status_message=detail)

    deliveries.deliver(delivery.pk, in_process=False, backoff=in_7s)

    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert delivery.last_error.startswith(
        "its own read-only login to the resource could not be issued (the PostgreSQL server")
    assert delivery.last_error.endswith("sync the consumer to issue another")
    assert pg_provider.host not in delivery.last_error
    synced = owner.post(f"{TEAM_A}/consumers/{delivery.consumer_id}/sync")
    assert synced.status_code == 202
    failed.refresh_from_db()
    fresh = issued_credentials().exclude(pk=failed.pk).get()
    assert (failed.status, fresh.status) == ("revoked", "active")
    assert webhook_server.requests[-1].json()["credentials"]["username"] == fresh.login


def test_upgraded_webhooks_sending_credentials_keep_the_owner_s_power(owner, webhook_server):
    sending = add_webhook(owner, webhook_server, name="sending", include_credentials=True)
    quiet = add_webhook(owner, webhook_server, name="quiet")
    tool = add_consumer(owner, builder="sqlpad", name="sqlpad",
                        properties={"url": "http://127.0.0.1:9/", "api_token": "t"})

    upgrade.keep_what_webhooks_were_sent(apps, None)

    levels = dict(Consumer.objects.values_list("name", "credential_access"))
    assert levels == {"sending": "owner", "quiet": "read-only", "sqlpad": "read-only"}
    assert {sending["id"], quiet["id"], tool["id"]} == {
        str(pk) for pk in Consumer.objects.values_list("pk", flat=True)}


def test_a_consumer_s_login_lives_as_long_as_the_consumer_needs_it(
    owner, pg_provider, webhook_server
):
    """The scope's default ttl is for requests; a consumer's login is revoked, not expired."""
    changed = owner.patch(f"{TEAM_A}/settings", {"credential_default_ttl": 3600},
                          format="json")
    assert changed.status_code == 200, changed.json()
    add_webhook(owner, webhook_server, include_credentials=True)

    create_resource(owner)

    own = issued_credentials().get()
    assert (own.status, own.expires_at, own.rotation_period) == ("active", None, None)


def test_a_rotated_login_reaches_the_tool_at_its_next_delivery(
    owner, pg_provider, webhook_server
):
    delivery, resource = pending_delivery(owner, webhook_server)
    deliveries.deliver(delivery.pk, in_process=False, backoff=in_7s)
    own = issued_credentials().get()
    Credential.objects.filter(pk=own.pk).update(status="rotating")
    again = Delivery.objects.create(
        consumer_id=delivery.consumer_id, event="resource.updated", resource_id=resource.pk,
        resource=delivery.resource, provider_class="postgresql", occurred_at=timezone.now())

    with pytest.raises(deliveries.RetryDelivery):
        deliveries.deliver(again.pk, in_process=False, backoff=in_7s)
    again.refresh_from_db()
    assert again.last_error == "its own read-only login to the resource is being rotated"
    Credential.objects.filter(pk=own.pk).update(status="active")
    rotated = owner.post(f"{TEAM_A}/resources/{resource.pk}/credentials/{own.pk}/rotate")
    assert rotated.status_code == 202, rotated.json()
    deliveries.deliver(again.pk, in_process=False, backoff=in_7s)

    new_login = rotated.json()["credentials"]["username"]
    assert new_login != own.login
    assert webhook_server.requests[-1].json()["credentials"]["username"] == new_login
