"""Sizes and freezes of S3 buckets on moto with IAM enforcement: the freeze is one statement
of the bucket policy, next to the operator's own, which it leaves alone."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from providers.adapters.base import Access, Credentials, Size
from providers.adapters.s3 import S3Adapter
from providers.adapters.s3_quotas import FREEZE_SID
from tests.conftest import MotoS3
from tests.providers.s3_support import (
    s3_adapter,  # noqa: F401 (fixture adapter)
    s3_admin_client,  # noqa: F401 (fixture admin_s3)
    s3_names,  # noqa: F401 (fixture names)
    s3_resource,  # noqa: F401 (fixture resource)
    tenant,
)


def backend_name(credentials: Credentials) -> str:
    return credentials.database.replace("-", "_")


def sids(admin_s3, bucket: str) -> list[str]:
    policy = json.loads(admin_s3.get_bucket_policy(Bucket=bucket)["Policy"])
    return [each.get("Sid") for each in policy["Statement"]]


def test_sizes_count_the_objects_and_skip_missing_buckets(
        adapter: S3Adapter, resource: Credentials, moto_s3: MotoS3, names):
    client = tenant(moto_s3, resource)
    for n in range(3):
        client.put_object(Bucket=resource.database, Key=f"k{n}", Body=b"ab" * (n + 1))

    assert adapter.sizes([backend_name(resource), names()]) == {
        backend_name(resource): Size(12, objects=3)}


def test_a_freeze_keeps_the_operator_s_statements_and_goes_without_them(
        adapter: S3Adapter, resource: Credentials, moto_s3: MotoS3, admin_s3):
    bucket, name = resource.database, backend_name(resource)
    own = {"Sid": "OperatorsOwn", "Effect": "Deny", "Principal": "*",
           "Action": "s3:DeleteBucket", "Resource": f"arn:aws:s3:::{bucket}"}
    admin_s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": [own]}))
    logins = {name: Access.OWNER}

    assert adapter.freeze(name, logins) == [name]
    assert adapter.freeze(name, logins) == []  # frozen already

    assert sids(admin_s3, bucket) == ["OperatorsOwn", FREEZE_SID]
    with pytest.raises(ClientError):
        tenant(moto_s3, resource).put_object(Bucket=bucket, Key="more", Body=b"x")
    assert adapter.unfreeze(name, logins) == [name]
    assert adapter.unfreeze(name, logins) == []
    assert sids(admin_s3, bucket) == ["OperatorsOwn"]
    tenant(moto_s3, resource).put_object(Bucket=bucket, Key="more", Body=b"x")
    admin_s3.delete_bucket_policy(Bucket=bucket)
