"""Which consumers get which events: scope, tags, types, enabled; idempotence; sync."""

from __future__ import annotations

from consumers import deliveries
from consumers.models import Delivery
from resourcemanager.outbox import events
from resourcemanager.outbox.models import OutboxMessage
from tests.consumers.conftest import TEAM_A, add_consumer, add_webhook, create_resource


def deliveries_of(consumer: dict) -> list[tuple[str, str]]:
    return list(
        Delivery.objects.filter(consumer_id=consumer["id"])
        .order_by("id").values_list("event", "resource__name")
    )


def test_tags_select_the_resources_a_consumer_receives(owner, pg_provider):
    analytics = add_consumer(owner, builder="log", name="analytics", tags=["analytics", "bi"])
    everything = add_consumer(owner, builder="log", name="everything")

    create_resource(owner, "reports", tags=["analytics"])
    create_resource(owner, "orders", tags=["sales"])
    create_resource(owner, "untagged")

    assert deliveries_of(analytics) == [("resource.created", "reports")]
    assert sorted(deliveries_of(everything)) == [
        ("resource.created", "orders"), ("resource.created", "reports"),
        ("resource.created", "untagged"),
    ]
    assert set(Delivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_resource_types_filter_what_a_consumer_receives(owner, pg_provider):
    buckets_only = add_consumer(owner, builder="log", name="buckets", resource_types=["object"])

    create_resource(owner)

    assert deliveries_of(buckets_only) == []


def test_consumers_of_another_scope_never_receive_an_event(owner, pg_provider, webhook_server):
    add_webhook(owner, webhook_server, scope="team-b")
    own = add_consumer(owner, builder="log", name="own")

    create_resource(owner, tags=["analytics"])

    assert webhook_server.requests == []
    assert not Delivery.objects.filter(consumer__scope="team-b").exists()
    assert deliveries_of(own) == [("resource.created", "orders")]


def test_a_disabled_consumer_receives_nothing(owner, pg_provider, webhook_server):
    consumer = add_webhook(owner, webhook_server, enabled=False)

    resource = create_resource(owner)
    owner.delete(f"{TEAM_A}/resources/{resource['id']}")

    assert webhook_server.requests == []
    assert deliveries_of(consumer) == []
    refused = owner.post(f"{TEAM_A}/consumers/{consumer['id']}/sync")
    assert (refused.status_code, refused.json()["code"]) == (409, "invalid_state")


def test_the_same_event_twice_makes_one_delivery(owner, pg_provider, webhook_server):
    consumer = add_webhook(owner, webhook_server)
    create_resource(owner)
    message = OutboxMessage.objects.get(name="resource.created")

    deliveries.fan_out(events.Event.from_message(message))  # redelivered by the outbox
    events.deliver(message.pk)

    assert deliveries_of(consumer) == [("resource.created", "orders")]
    assert len(webhook_server.requests) == 1


def test_a_new_consumer_gets_the_existing_resources_and_sync_sends_them_again(
    owner, pg_provider, webhook_server
):
    create_resource(owner, "reports", tags=["analytics"])
    create_resource(owner, "orders", tags=["sales"])
    gone = create_resource(owner, "gone", tags=["analytics"])
    owner.delete(f"{TEAM_A}/resources/{gone['id']}")

    consumer = add_webhook(owner, webhook_server, tags=["analytics"])

    assert [r.json()["resource"]["name"] for r in webhook_server.requests] == ["reports"]
    assert webhook_server.requests[0].json()["event"] == "resource.created"
    assert consumer["delivery_status"]["last_success_at"] is not None

    synced = owner.post(f"{TEAM_A}/consumers/{consumer['id']}/sync")

    assert synced.status_code == 202
    assert synced.json()["queued"] == 1
    assert synced.json()["consumer"]["delivery_status"]["pending"] == 0
    assert [r.json()["resource"]["name"] for r in webhook_server.requests] == ["reports"] * 2
    ids = [r.json()["id"] for r in webhook_server.requests]
    assert ids[0] != ids[1] and all(i < 0 for i in ids)  # a sync's own, stable per delivery


def test_changing_the_filters_delivers_the_newly_matching_resources(owner, pg_provider):
    create_resource(owner, "orders", tags=["sales"])
    consumer = add_consumer(owner, builder="log", name="log", tags=["analytics"])
    assert deliveries_of(consumer) == []

    owner.patch(f"{TEAM_A}/consumers/{consumer['id']}", {"tags": ["sales"]}, format="json")

    assert deliveries_of(consumer) == [("resource.created", "orders")]
