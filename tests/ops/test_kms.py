"""KMS backends wrapping the data keys: AWS KMS (moto in server mode) and a Vault transit
engine (tests/support/transit.py); a KMS that cannot be reached, or refuses, is a clear
503 in the API with nothing written, and a resource's creation stops before the backend."""

from __future__ import annotations

import base64
import io
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from consumers.models import Consumer
from resourcemanager.core import crypto, datakeys, kms
from resourcemanager.core.datakeys import DataKey
from resourcemanager.resources.models import Resource
from tests.conftest import MotoS3, pg_admin_connect
from tests.ops.test_encryption import forget_unwrapped_keys, raw, snapshot
from tests.support.transit import TransitServer, transit_server

PROPERTIES = {"url": "https://hooks.example.com/rm", "secret": "whsec-kms-canary-5e1a",
              "timeout": 10, "include_credentials": False}


def free_port() -> int:
    """A port of 127.0.0.1 nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def add_consumer(client, scope: str = "team-k"):
    return client.post(f"/api/c/{scope}/consumers", {
        "builder": "webhook", "name": "hook", "properties": PROPERTIES}, format="json")


def opened_with(key: bytes, token: str) -> str:
    """The token's plaintext, opened with the data key as the KMS unwrapped it."""
    return Fernet(key).decrypt(token.rpartition(":")[2].encode()).decode()


@pytest.fixture
def admin(make_client):
    return make_client(team_k="ADMIN", team_l="ADMIN")


@pytest.fixture
def vault(settings) -> Iterator[TransitServer]:
    with transit_server() as server:
        settings.RM_KMS = "vault"
        settings.RM_KMS_VAULT_URL = server.url
        settings.RM_KMS_VAULT_TOKEN = server.token
        settings.RM_KMS_VAULT_KEY = "rm"
        yield server
    forget_unwrapped_keys()


@contextmanager
def aws_kek(moto_s3: MotoS3, settings, monkeypatch) -> Iterator[str]:
    """A KMS key on the moto server, RM_KMS=aws using it; scheduled for deletion after."""
    client = moto_s3.client("kms")
    key_id = client.create_key(Description="resourcemanager test KEK")["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", moto_s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", moto_s3.secret_key)
    settings.RM_KMS, settings.RM_KMS_AWS_KEY_ID = "aws", key_id
    settings.RM_KMS_AWS_REGION, settings.RM_KMS_AWS_ENDPOINT_URL = "us-east-1", moto_s3.endpoint
    kms._aws.cache_clear()
    try:
        yield key_id
    finally:
        kms._aws.cache_clear()
        forget_unwrapped_keys()
        client.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)


@pytest.fixture
def aws_kms(moto_s3: MotoS3, settings, monkeypatch) -> Iterator[str]:
    with aws_kek(moto_s3, settings, monkeypatch) as key_id:
        yield key_id


def test_vault_wraps_the_scope_s_data_key(admin, vault):
    response = add_consumer(admin)

    assert response.status_code == 201, response.json()
    row = DataKey.objects.get(scope="team-k")
    assert (row.kms, row.wrapped[:9]) == ("vault", "vault:v1:")
    key = base64.b64decode(vault.answer(
        "/v1/transit/decrypt/rm", vault.token, {"ciphertext": row.wrapped})["plaintext"])
    token = raw(Consumer, "properties", response.json()["id"])
    assert crypto.key_id(token) == row.pk
    assert PROPERTIES["secret"] in opened_with(key, token)
    forget_unwrapped_keys()
    vault.calls.clear()
    assert Consumer.objects.get(scope="team-k").properties == PROPERTIES
    assert vault.calls == ["decrypt"]  # unwrapped once, then cached
    Consumer.objects.get(scope="team-k").properties  # noqa: B018
    assert vault.calls == ["decrypt"]


def test_a_vault_kek_rotation_rewraps_under_the_latest_version(admin, vault):
    add_consumer(admin)
    before = snapshot()
    vault.rotate("rm")

    out = io.StringIO()
    call_command("rotate_kek", stdout=out)

    assert "re-wrapped 1 data keys" in out.getvalue()
    assert DataKey.objects.get(scope="team-k").wrapped.startswith("vault:v2:")
    assert "rewrap" in vault.calls
    assert snapshot() == before
    forget_unwrapped_keys()
    assert Consumer.objects.get(scope="team-k").properties == PROPERTIES


def test_a_vault_that_refuses_is_a_clear_503_and_nothing_is_written(admin, vault, settings):
    settings.RM_KMS_VAULT_TOKEN = "revoked-token"

    response = add_consumer(admin)

    assert response.status_code == 503
    assert response.json() == {
        "code": "kms_unavailable", "message": "KMS vault refused: HTTP 403: permission denied"}
    assert not Consumer.objects.exists()
    assert not DataKey.objects.filter(scope="team-k").exists()


def test_a_vault_that_cannot_be_reached_is_a_clear_503(admin, vault, settings):
    settings.RM_KMS_VAULT_URL = f"http://127.0.0.1:{free_port()}"

    response = add_consumer(admin)

    assert response.status_code == 503
    assert response.json()["message"] == "KMS vault unreachable: ConnectionError"
    assert not Consumer.objects.exists()


def test_aws_kms_wraps_the_scope_s_data_key(admin, aws_kms, moto_s3):
    response = add_consumer(admin)

    assert response.status_code == 201, response.json()
    row = DataKey.objects.get(scope="team-k")
    assert row.kms == "aws"
    answer = moto_s3.client("kms").decrypt(CiphertextBlob=base64.b64decode(row.wrapped))
    assert answer["KeyId"].endswith(aws_kms)
    assert PROPERTIES["secret"] in opened_with(
        answer["Plaintext"], raw(Consumer, "properties", response.json()["id"]))
    forget_unwrapped_keys()
    assert Consumer.objects.get(scope="team-k").properties == PROPERTIES


def test_data_keys_move_from_local_to_aws_with_a_kek_rotation(admin, settings, moto_s3,
                                                                monkeypatch):
    assert add_consumer(admin).status_code == 201  # wrapped by the local KEK
    assert DataKey.objects.get(scope="team-k").kms == "local"
    before = snapshot()
    with aws_kek(moto_s3, settings, monkeypatch):
        call_command("rotate_kek", stdout=io.StringIO())

        assert set(DataKey.objects.values_list("kms", flat=True)) == {"aws"}
        assert snapshot() == before
        settings.RM_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # no local KEK now
        forget_unwrapped_keys()
        assert Consumer.objects.get(scope="team-k").properties == PROPERTIES


def test_aws_kms_unreachable_is_a_clear_503_and_nothing_is_written(admin, aws_kms, settings):
    settings.RM_KMS_AWS_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"

    response = add_consumer(admin)

    assert response.status_code == 503
    assert response.json()["code"] == "kms_unavailable"
    assert response.json()["message"].startswith(
        "KMS aws unreachable: Could not connect to the endpoint URL")
    assert not Consumer.objects.exists()
    assert not DataKey.objects.filter(scope="team-k").exists()


def test_a_resource_is_not_made_on_the_backend_while_the_kms_is_down(
        admin, pg_provider, vault, settings):
    settings.RM_KMS_VAULT_URL = f"http://127.0.0.1:{free_port()}"

    response = admin.post("/api/c/team-k/resources", {"provider": "pg", "name": "ledger"},
                          format="json")

    resource = Resource.objects.get(pk=response.json()["id"])
    assert resource.status == "error"
    assert "KMS vault unreachable" in resource.status_message
    assert resource.credentials is None
    with pg_admin_connect() as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            [resource.backend_name]).fetchone() is None


def test_a_kek_rotation_the_kms_refuses_changes_nothing(admin, vault, settings):
    add_consumer(admin)
    add_consumer(admin, "team-l")
    wrapped = dict(DataKey.objects.values_list("pk", "wrapped"))
    vault.rotate("rm")
    settings.RM_KMS_VAULT_TOKEN = "revoked-token"

    with pytest.raises(CommandError, match=(
            r"KMS vault refused: HTTP 403: permission denied.*nothing was changed")):
        call_command("rotate_kek", stdout=io.StringIO())

    assert dict(DataKey.objects.values_list("pk", "wrapped")) == wrapped


def test_the_cache_of_unwrapped_keys_is_bounded(admin, vault, settings):
    settings.RM_KMS_CACHE_SIZE = 1
    add_consumer(admin)
    add_consumer(admin, "team-l")  # its key pushes team-k's out
    vault.calls.clear()

    assert Consumer.objects.get(scope="team-l").properties == PROPERTIES
    assert vault.calls == []
    assert Consumer.objects.get(scope="team-k").properties == PROPERTIES
    assert vault.calls == ["decrypt"]
    assert len(datakeys._cache.entries) == 1


def test_reading_a_secret_while_the_kms_refuses_is_a_clear_503(admin, vault, settings):
    consumer = add_consumer(admin).json()
    forget_unwrapped_keys()  # as a process started while the KMS refuses
    settings.RM_KMS_VAULT_TOKEN = "revoked-token"

    response = admin.get(f"/api/c/team-k/consumers/{consumer['id']}")

    assert response.status_code == 503
    assert response.json()["code"] == "kms_unavailable"
    assert PROPERTIES["secret"] not in response.content.decode()
