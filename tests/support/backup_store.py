"""The backup store in tests: a bucket of its own on the moto S3 server, configured as
``RM_BACKUP_STORE_URL`` for one test and removed with whatever is in it afterwards.

A test module imports the fixture ``bucket`` (``backup_bucket``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from tests.conftest import MotoS3


class Bucket:
    """The backup store's bucket on moto, and what is in it."""

    def __init__(self, moto_s3: MotoS3, name: str) -> None:
        self.s3, self.name = moto_s3.client("s3"), name

    def keys(self) -> list[str]:
        return [each["Key"] for each in
                self.s3.list_objects_v2(Bucket=self.name).get("Contents", [])]

    def unfinished_uploads(self) -> list[str]:
        return [each["Key"] for each in
                self.s3.list_multipart_uploads(Bucket=self.name).get("Uploads", [])]

    def read(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.name, Key=key)["Body"].read()

    def write(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.name, Key=key, Body=body)

    def empty(self) -> None:
        for key in self.keys():
            self.s3.delete_object(Bucket=self.name, Key=key)
        for upload in self.s3.list_multipart_uploads(Bucket=self.name).get("Uploads", []):
            self.s3.abort_multipart_upload(Bucket=self.name, Key=upload["Key"],
                                           UploadId=upload["UploadId"])


@pytest.fixture(name="bucket")
def backup_bucket(moto_s3: MotoS3, settings) -> Iterator[Bucket]:
    """A bucket of its own on moto, configured as the backup store; removed afterwards."""
    bucket = Bucket(moto_s3, f"rm-backups-{uuid.uuid4().hex[:12]}")
    bucket.s3.create_bucket(Bucket=bucket.name)
    settings.RM_BACKUP_STORE_URL = (
        f"s3://{quote(moto_s3.access_key, safe='')}:{quote(moto_s3.secret_key, safe='')}"
        f"@{moto_s3.host}:{moto_s3.port}"
        f"/{bucket.name}/tenants?secure=false")
    try:
        yield bucket
    finally:
        bucket.empty()
        bucket.s3.delete_bucket(Bucket=bucket.name)
