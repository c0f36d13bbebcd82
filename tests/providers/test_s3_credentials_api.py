"""Credentials of a bucket through the API, against moto enforcing IAM: the key is made
by IAM (the run stores it, the answer or a reveal shows it), each level's policy holds,
rotation hands out a new key while the old one works for its grace, revoking refuses it."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from providers.adapters.base import Credentials
from resourcemanager.resources import credential_sweeps
from resourcemanager.resources.models import Credential
from tests.conftest import MotoS3
from tests.providers.s3_support import TEAM_A, can_list, tenant


@pytest.fixture(name="bucket")
def ready_bucket(make_client, s3_provider) -> tuple:
    client = make_client(team_a="RESOURCE_ADMIN")
    created = client.post(TEAM_A, {"provider": "s3", "name": "assets"}, format="json").json()
    assert created["status"] == "ready", created
    return client, created, Credentials.from_dict(created["credentials"])


def issue(client, resource: dict, **body) -> dict:
    answer = client.post(f"{TEAM_A}/{resource['id']}/credentials", body, format="json")
    assert answer.status_code == 202, answer.json()
    return answer.json()


def test_a_read_only_key_reads_the_bucket_and_writes_nothing(bucket, moto_s3: MotoS3):
    client, resource, owner = bucket
    tenant(moto_s3, owner).put_object(Bucket=owner.database, Key="a", Body=b"x")

    issued = issue(client, resource, holder="reports", access="read-only")

    assert issued["status"] == "active"
    key = Credentials.from_dict(issued["credentials"])
    assert key.username != owner.username and key.database == owner.database
    reader = tenant(moto_s3, key)
    assert reader.get_object(Bucket=key.database, Key="a")["Body"].read() == b"x"
    with pytest.raises(ClientError):
        reader.put_object(Bucket=key.database, Key="b", Body=b"y")
    revealed = client.post(
        f"{TEAM_A}/{resource['id']}/credentials/{issued['id']}/reveal").json()
    assert revealed["credentials"] == issued["credentials"]


def test_rotation_and_revocation_of_a_key(bucket, moto_s3: MotoS3):
    client, resource, _ = bucket
    issued = issue(client, resource, holder="etl", access="read-write", ttl=600)
    url = f"{TEAM_A}/{resource['id']}/credentials/{issued['id']}"
    old = Credentials.from_dict(issued["credentials"])

    assert client.post(f"{url}/renew").status_code == 202
    assert can_list(moto_s3, old)  # renewing keeps the key
    rotated = client.post(f"{url}/rotate", {"grace": 600}, format="json")
    assert rotated.status_code == 202, rotated.json()
    new = Credentials.from_dict(rotated.json()["credentials"])

    assert new.username != old.username
    assert can_list(moto_s3, new) and can_list(moto_s3, old)
    Credential.objects.filter(pk=issued["id"]).update(retire_at="2000-01-01T00:00:00Z",
                                                      retiring=[{
        "login": Credential.objects.get(pk=issued["id"]).retiring[0]["login"],
        "until": "2000-01-01T00:00:00+00:00"}])
    assert credential_sweeps.sweep_credentials() == 1
    assert not can_list(moto_s3, old) and can_list(moto_s3, new)

    assert client.delete(url).json()["status"] == "revoked"
    assert not can_list(moto_s3, new)
