"""BACKUP, RESTORE, EXPORT and IMPORT of a bucket through the API, against moto enforcing
IAM: the objects go to the backup store as a tar stream read with the bucket's own key and
come back under their keys, byte for byte."""

from __future__ import annotations

import io
import os
import tarfile

from providers.adapters.base import Credentials
from providers.adapters.s3_dumps import S3Dumps
from resourcemanager.backups.models import Backup
from resourcemanager.resources.models import Resource
from tests.api.test_backups import completed_backup
from tests.api.test_verify_backups import verify
from tests.conftest import MotoS3
from tests.providers.s3_support import TEAM_A, tenant
from tests.support.backup_store import backup_bucket  # noqa: F401 (fixture bucket)

LONG_KEY = "reports/" + "quarterly-" * 20 + "é.csv"  # past the 100 bytes of a plain header
BIG = os.urandom(6 * 1024 * 1024 + 123)  # more than a part of a restore's upload


def objects(moto_s3: MotoS3, owner: Credentials) -> dict[str, bytes]:
    client = tenant(moto_s3, owner)
    listed = client.list_objects_v2(Bucket=owner.database).get("Contents", [])
    return {each["Key"]: client.get_object(Bucket=owner.database, Key=each["Key"])["Body"]
            .read() for each in listed}


def test_a_bucket_s_objects_come_back_byte_for_byte_and_later_ones_stay(
    make_client, s3_provider, moto_s3: MotoS3, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = client.post(TEAM_A, {"provider": "s3", "name": "assets"}, format="json").json()
    owner = Credentials.from_dict(resource["credentials"])
    s3 = tenant(moto_s3, owner)
    kept = {"a.txt": b"first", LONG_KEY: b"long name", "big.bin": BIG, "empty/": b""}
    for key, body in kept.items():
        s3.put_object(Bucket=owner.database, Key=key, Body=body)

    backup = completed_backup(client, resource)

    assert backup["format"] == "s3-tar"
    assert b"first" not in bucket.read(Backup.objects.get().object_key)
    s3.put_object(Bucket=owner.database, Key="a.txt", Body=b"changed")
    s3.delete_object(Bucket=owner.database, Key="big.bin")
    s3.put_object(Bucket=owner.database, Key="later.txt", Body=b"made after")
    restored = client.post(f"{TEAM_A}/{resource['id']}/restore",
                           {"backup": backup["id"], "confirm": "assets"}, format="json")
    assert restored.json()["status"] == "completed", restored.json()
    assert objects(moto_s3, owner) == {**kept, "later.txt": b"made after"}


def test_an_exported_bucket_is_a_tar_and_an_uploaded_tar_restores(
    make_client, s3_provider, moto_s3: MotoS3, bucket
):
    client = make_client(team_a="ADMIN")
    resource = client.post(TEAM_A, {"provider": "s3", "name": "assets"}, format="json").json()
    owner = Credentials.from_dict(resource["credentials"])
    tenant(moto_s3, owner).put_object(Bucket=owner.database, Key=LONG_KEY, Body=b"row")
    completed_backup(client, resource)

    answer = client.get(f"{TEAM_A}/{resource['id']}/export")
    exported = b"".join(answer.streaming_content)
    with tarfile.open(fileobj=io.BytesIO(exported)) as archive:
        assert archive.getnames() == [LONG_KEY]
        assert archive.extractfile(LONG_KEY).read() == b"row"

    made = io.BytesIO()
    with tarfile.open(fileobj=made, mode="w") as archive:
        info = tarfile.TarInfo("imported/one.txt")
        info.size = 3
        archive.addfile(info, io.BytesIO(b"one"))
    imported = client.post(f"{TEAM_A}/{resource['id']}/import", data=made.getvalue(),
                           content_type="application/octet-stream")
    assert imported.status_code == 201, imported.json()
    restored = client.post(f"{TEAM_A}/{resource['id']}/restore",
                           {"backup": imported.json()["id"], "confirm": "assets"},
                           format="json")
    assert restored.json()["status"] == "completed", restored.json()
    assert objects(moto_s3, owner) == {LONG_KEY: b"row", "imported/one.txt": b"one"}


def test_only_a_tar_is_taken_for_a_bucket_s_dump():
    made = io.BytesIO()
    with tarfile.open(fileobj=made, mode="w") as archive:
        archive.addfile(tarfile.TarInfo("x"), io.BytesIO(b""))
    assert S3Dumps.is_dump(made.getvalue()[:4096])
    assert not S3Dumps.is_dump(b"PGDMP" + b"\0" * 600)
    assert not S3Dumps.is_dump(b"ustar")


def test_the_restore_drill_copies_a_bucket_s_backup_and_leaves_no_scratch_bucket(
    make_client, s3_provider, moto_s3: MotoS3, bucket
):
    client = make_client(team_a="RESOURCE_ADMIN")
    resource = client.post(TEAM_A, {"provider": "s3", "name": "assets"}, format="json").json()
    owner = Credentials.from_dict(resource["credentials"])
    for key in ("a", "b"):
        tenant(moto_s3, owner).put_object(Bucket=owner.database, Key=key, Body=b"12345")
    backup = completed_backup(client, resource)
    assert Backup.objects.get(pk=backup["id"]).manifest == {
        "tables": {"objects": 2, "bytes": 10}}

    status, output = verify("--scope", "team-a")

    assert status == 0, output
    assert "matches its manifest" in output
    made = Resource.objects.get()
    prefix = made.provider.options["name_prefix"]
    assert set(made.provider.adapter().inventory(prefix).databases) == {made.backend_name}
