"""A bucket through the API: created, checked (a lost key re-issued) and deleted against
moto (tasks run in-process in the test settings)."""

from __future__ import annotations

from providers.adapters.base import Credentials
from resourcemanager.resources.models import Resource
from tests.conftest import MotoS3
from tests.providers.s3_support import (
    TEAM_A,
    bucket_exists,
    iam_admin_client,  # noqa: F401 (fixture admin_iam)
    s3_admin_client,  # noqa: F401 (fixture admin_s3)
    tenant,
    user_exists,
)


def test_api_creates_checks_and_deletes_a_bucket(
    make_client, s3_provider, moto_s3: MotoS3, admin_s3, admin_iam
) -> None:
    client = make_client(team_a="RESOURCE_ADMIN")

    response = client.post(TEAM_A, {"provider": "s3", "name": "assets"}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["type"]) == ("ready", "object")
    first = Credentials.from_dict(body["credentials"])
    assert "assets" not in first.database and "team" not in first.database
    tenant(moto_s3, first).put_object(Bucket=first.database, Key="a", Body=b"x")

    name = Resource.objects.get(pk=body["id"]).backend_name
    admin_iam.delete_access_key(UserName=name, AccessKeyId=first.username)
    url = f"{TEAM_A}/{body['id']}"
    assert client.post(f"{url}/check", {}, format="json").status_code == 202
    checked = client.post(f"{url}/reveal").json()
    assert checked["last_check"]["ok"] is True, checked["last_check"]
    second = Credentials.from_dict(checked["credentials"])
    assert second.username != first.username
    assert tenant(moto_s3, second).get_object(Bucket=second.database, Key="a")[
        "Body"].read() == b"x"

    assert client.delete(url).json()["status"] == "deleted"
    assert not bucket_exists(admin_s3, first.database)
    assert not user_exists(admin_iam, name)


