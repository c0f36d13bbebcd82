"""A MongoDB resource through the API: created, checked and deleted (tasks run in-process
in the test settings) against ``FakeMongod``."""

from __future__ import annotations

from resourcemanager.resources.models import Resource
from tests.providers.mongodb_support import owner, tenant
from tests.support.mongowire import FakeMongod


def test_api_creates_and_deletes_a_mongodb_resource(
    make_client, mongo_provider, fake_mongod: FakeMongod
) -> None:
    client = make_client(team_a="RESOURCE_ADMIN")

    response = client.post("/api/c/team-a/resources", {"provider": "mongo", "name": "events"},
                           format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["type"]) == ("ready", "nosql")
    name = body["credentials"]["database"]
    assert body["credentials"]["uri"].endswith(f"/{name}?authSource={name}")
    assert tenant(fake_mongod, name) == {"pwd": body["credentials"]["password"],
                                         "roles": owner(name)}
    assert Resource.objects.get(id=body["id"]).backend_name == name

    response = client.post(f"/api/c/team-a/resources/{body['id']}/check", {}, format="json")
    assert response.status_code == 202
    assert client.get(f"/api/c/team-a/resources/{body['id']}").json()["last_check"]["ok"]

    assert client.delete(f"/api/c/team-a/resources/{body['id']}").status_code == 202
    assert (name, name) not in fake_mongod.users and name not in fake_mongod.collections

