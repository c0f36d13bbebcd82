"""A MongoDB resource through the API: created, checked and deleted, its credentials issued,
used, revoked, expired, renewed and rotated (tasks run in-process in the test settings) against
``FakeMongod``."""

from __future__ import annotations

import pytest
from pymongo import MongoClient
from pymongo.errors import OperationFailure

from providers.adapters.mongodb import AUTHENTICATION_FAILED
from resourcemanager.resources import credential_sweeps
from resourcemanager.resources.models import Credential, Resource
from tests.providers.mongodb_support import UNAUTHORIZED, owner, tenant
from tests.support.mongowire import FakeMongod

RESOURCES = "/api/c/team-a/resources"
QUICK = {"serverSelectionTimeoutMS": 3000}


def test_api_creates_and_deletes_a_mongodb_resource(
    make_client, mongo_provider, fake_mongod: FakeMongod
) -> None:
    client = make_client(team_a="RESOURCE_ADMIN")

    response = client.post(RESOURCES, {"provider": "mongo", "name": "events"}, format="json")

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



def test_api_issues_a_read_only_credential_that_revoking_and_expiry_end(
    make_client, mongo_provider, fake_mongod: FakeMongod
) -> None:
    client = make_client(team_a="RESOURCE_ADMIN")
    created = client.post(RESOURCES, {"provider": "mongo", "name": "events"},
                          format="json").json()
    name = created["credentials"]["database"]
    credentials = f"{RESOURCES}/{created['id']}/credentials"
    with MongoClient(created["credentials"]["uri"], **QUICK) as resource_owner:
        resource_owner[name].events.insert_one({"_id": 1, "kind": "signup"})

    answer = client.post(credentials, {"holder": "reports", "access": "read-only"},
                         format="json")

    assert answer.status_code == 202, answer.json()
    issued = answer.json()
    assert (issued["access"], issued["status"]) == ("read-only", "active")
    fields = issued["credentials"]
    assert fields["username"] == issued["username"] != name
    assert fields["uri"].endswith(f"/{name}?authSource={name}")
    assert fake_mongod.users[(name, fields["username"])]["roles"] == [{"role": "read",
                                                                        "db": name}]
    with MongoClient(fields["uri"], **QUICK) as reader:
        assert reader[name].events.find_one() == {"_id": 1, "kind": "signup"}
        with pytest.raises(OperationFailure) as refused:
            reader[name].events.insert_one({"kind": "forged"})
        assert refused.value.code == UNAUTHORIZED

        revoked = client.delete(f"{credentials}/{issued['id']}")

        assert (revoked.status_code, revoked.json()["status"]) == (202, "revoked")
        with pytest.raises(OperationFailure) as refused:  # its open connection, too
            reader[name].events.find_one()
        assert refused.value.code == UNAUTHORIZED
    with MongoClient(fields["uri"], **QUICK) as again, pytest.raises(OperationFailure) as refused:
        again[name].events.find_one()
    assert refused.value.code == AUTHENTICATION_FAILED

    # MongoDB cannot expire a user: the sweep revokes an expired credential.
    temporary = client.post(credentials, {"holder": "temp", "access": "read-write", "ttl": 60},
                            format="json").json()
    login = temporary["credentials"]["username"]
    assert (name, login) in fake_mongod.users
    Credential.objects.filter(pk=temporary["id"]).update(expires_at="2000-01-01T00:00:00Z")
    assert credential_sweeps.sweep_credentials() == 1
    assert Credential.objects.get(pk=temporary["id"]).status == Credential.Status.REVOKED
    assert (name, login) not in fake_mongod.users

    owner_login = client.post(credentials, {"holder": "ops", "access": "owner"},
                              format="json").json()["credentials"]["username"]
    assert client.delete(f"{RESOURCES}/{created['id']}").status_code == 202
    assert (name, owner_login) not in fake_mongod.users
    assert not [key for key in fake_mongod.users if key[0] == name]


def test_api_renews_and_rotates_a_mongodb_credential(
    make_client, mongo_provider, fake_mongod: FakeMongod
) -> None:
    client = make_client(team_a="RESOURCE_ADMIN")
    created = client.post(RESOURCES, {"provider": "mongo", "name": "events"},
                          format="json").json()
    name = created["credentials"]["database"]
    issued = client.post(f"{RESOURCES}/{created['id']}/credentials",
                         {"holder": "etl", "access": "read-write", "ttl": 600},
                         format="json").json()
    url, old = f"{RESOURCES}/{created['id']}/credentials/{issued['id']}", issued["credentials"]

    renewed = client.post(f"{url}/renew", {"ttl": 1200}, format="json")
    assert (renewed.status_code, renewed.json()["status"]) == (202, "active")
    rotated = client.post(f"{url}/rotate", {"grace": 600}, format="json")
    assert (rotated.status_code, rotated.json()["status"]) == (202, "active")
    new = rotated.json()["credentials"]
    assert new["username"] != old["username"]
    for fields in (old, new):  # the replaced login works until its grace is over
        with MongoClient(fields["uri"], **QUICK) as writer:
            writer[name].events.insert_one({"by": fields["username"]})
    assert fake_mongod.users[(name, new["username"])]["roles"] == [{"role": "readWrite",
                                                                     "db": name}]

    credential = Credential.objects.get(pk=issued["id"])
    earlier = "2000-01-01T00:00:00+00:00"
    credential.retiring = [{**each, "until": earlier} for each in credential.retiring]
    credential.retire_at = earlier
    credential.save()
    assert credential_sweeps.sweep_credentials() == 1

    assert (name, old["username"]) not in fake_mongod.users
    with MongoClient(old["uri"], **QUICK) as again, pytest.raises(OperationFailure) as refused:
        again[name].events.find_one()
    assert refused.value.code == AUTHENTICATION_FAILED
    with MongoClient(new["uri"], **QUICK) as writer:
        assert len(list(writer[name].events.find())) == 2
