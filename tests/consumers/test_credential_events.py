"""Consumers are told of a resource's credentials: a webhook gets ``credential.issued``,
``renewed``, ``rotated`` and ``revoked`` with the credential described and never its
secret; a log consumer logs them; a tool that only holds connections gets none of them, and
a consumer's own logins are not announced, but a consumer whose own login was rotated
gets the resource again (tests/consumers/test_consumer_credentials.py)."""

from __future__ import annotations

import logging

from consumers.models import Delivery
from tests.consumers.conftest import TEAM_A, add_consumer, add_webhook, create_resource
from tests.support.toolfakes import TOOL_PASSWORD, FakeSQLPad


def credentials_url(resource: dict, credential: dict | None = None, verb: str = "") -> str:
    url = f"{TEAM_A}/resources/{resource['id']}/credentials"
    if credential is not None:
        url += f"/{credential['id']}"
    return url + (f"/{verb}" if verb else "")


def test_a_webhook_is_told_of_each_credential_operation_without_its_secret(
    owner, webhook_server, pg_provider
):
    add_webhook(owner, webhook_server, include_credentials=True)
    resource = create_resource(owner)
    issued = owner.post(credentials_url(resource), {
        "holder": "etl", "access": "read-only", "ttl": 600}, format="json").json()
    secrets = [issued["credentials"]["password"]]

    assert owner.post(credentials_url(resource, issued, "renew")).status_code == 202
    rotated = owner.post(credentials_url(resource, issued, "rotate"), {"grace": 0},
                         format="json").json()
    secrets.append(rotated["credentials"]["password"])
    assert owner.delete(credentials_url(resource, issued)).status_code == 202

    # The webhook's own login (include_credentials) is plumbing, not announced.
    told = [each.json() for each in webhook_server.requests
            if each.json()["event"].startswith("credential.")]
    assert [each["event"] for each in told] == [
        "credential.issued", "credential.renewed", "credential.rotated", "credential.revoked"]
    for body in told:
        assert body["resource"]["id"] == resource["id"]
        assert body["credential"]["id"] == issued["id"]
        assert (body["credential"]["holder"], body["credential"]["access"]) == (
            "etl", "read-only")
        assert "credentials" not in body  # not even with include_credentials
    assert told[0]["credential"]["username"] == issued["username"]
    assert told[2]["credential"]["username"] == rotated["username"]
    assert told[3]["credential"]["status"] == "revoked"
    raw = b"".join(each.body for each in webhook_server.requests)
    assert not [secret for secret in secrets if secret.encode() in raw]


def test_a_log_consumer_logs_them_and_a_tool_gets_none(owner, caplog, pg_provider):
    add_consumer(owner, builder="log", name="journal")
    with FakeSQLPad() as sqlpad:
        tool = add_consumer(owner, builder="sqlpad", name="sqlpad", properties={
            "url": sqlpad.url, "email": "admin@example.com", "password": TOOL_PASSWORD})
        resource = create_resource(owner)
        with caplog.at_level(logging.INFO, logger="consumers.builders.log"):
            issued = owner.post(credentials_url(resource), {
                "holder": "reports", "access": "read-only"}, format="json").json()
            owner.delete(credentials_url(resource, issued))

    # The tool's own login, issued for its delivery, is not announced.
    lines = [record.getMessage() for record in caplog.records
             if record.name == "consumers.builders.log" and "credential." in record.getMessage()]
    assert [line.split(":")[0] for line in lines] == [
        "consumer event credential.issued", "consumer event credential.revoked"]
    assert all("credential of reports (read-only)" in line for line in lines)
    assert not Delivery.objects.filter(consumer_id=tool["id"], event__startswith="credential.")
    assert Delivery.objects.filter(consumer_id=tool["id"], event="resource.created").exists()
