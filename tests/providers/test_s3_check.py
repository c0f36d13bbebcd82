"""S3Adapter's check against moto with IAM enforcement: what it detects (a lost or widened
policy, a gone, disabled or mismatched key, a deleted user, a lost bucket) and what a
repair restores, seen through tenant and admin clients."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from providers.adapters.base import Credentials
from providers.adapters.s3 import S3Adapter
from providers.adapters.s3_names import POLICY_NAME
from tests.conftest import MotoS3
from tests.providers.s3_support import (
    can_list,
    iam_admin_client,  # noqa: F401 (fixture admin_iam)
    key_ids,
    s3_adapter,  # noqa: F401 (fixture adapter)
    s3_admin_client,  # noqa: F401 (fixture admin_s3)
    s3_names,  # noqa: F401 (fixture names)
    s3_resource,  # noqa: F401 (fixture resource)
    tenant,
    user_of,
)


def test_check_of_a_healthy_resource(adapter: S3Adapter, resource: Credentials) -> None:
    result = adapter.check(resource, repair=False)
    assert (result.ok, result.repaired, result.credentials) == (True, (), None)
    assert result.message == "bucket, user, policy and access key are in order"


def test_check_restores_a_deleted_or_widened_policy(
    adapter: S3Adapter, resource: Credentials, moto_s3: MotoS3, admin_iam
) -> None:
    name = user_of(resource)
    admin_iam.delete_user_policy(UserName=name, PolicyName=POLICY_NAME)
    assert not can_list(moto_s3, resource)

    detected = adapter.check(resource, repair=False)
    assert not detected.ok
    assert detected.message == f"IAM user {name} lacks its policy on {resource.database}"

    repaired = adapter.check(resource, repair=True)
    assert (repaired.ok, repaired.repaired, repaired.credentials) == (
        True, ("policy restored",), None)
    assert can_list(moto_s3, resource)

    widened = {"Version": "2012-10-17",
               "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    admin_iam.put_user_policy(UserName=name, PolicyName=POLICY_NAME,
                              PolicyDocument=json.dumps(widened))
    assert not adapter.check(resource, repair=False).ok
    assert adapter.check(resource, repair=True).repaired == ("policy restored",)
    with pytest.raises(ClientError):
        tenant(moto_s3, resource).list_buckets()


def test_check_issues_a_new_key_when_the_stored_one_is_gone(
    adapter: S3Adapter, resource: Credentials, moto_s3: MotoS3, admin_iam
) -> None:
    name = user_of(resource)
    admin_iam.delete_access_key(UserName=name, AccessKeyId=resource.username)

    detected = adapter.check(resource, repair=False)
    assert not detected.ok and detected.credentials is None
    assert detected.message == f"access key {resource.username} of {name} no longer exists"

    repaired = adapter.check(resource, repair=True)
    assert repaired.ok and repaired.repaired == ("new access key issued",)
    fresh = repaired.credentials
    assert fresh is not None and fresh.username != resource.username
    assert (fresh.database, fresh.host, fresh.port) == (
        resource.database, resource.host, resource.port)
    assert fresh.uri.endswith(f"/{resource.database}") and resource.password not in fresh.uri
    assert can_list(moto_s3, fresh) and not can_list(moto_s3, resource)
    assert key_ids(admin_iam, name) == [fresh.username]
    assert adapter.check(fresh, repair=False).ok


def test_check_recreates_a_deleted_user(
    adapter: S3Adapter, resource: Credentials, moto_s3: MotoS3, admin_iam
) -> None:
    name = user_of(resource)
    admin_iam.delete_access_key(UserName=name, AccessKeyId=resource.username)
    admin_iam.delete_user_policy(UserName=name, PolicyName=POLICY_NAME)
    admin_iam.delete_user(UserName=name)

    detected = adapter.check(resource, repair=False)
    assert (detected.ok, detected.message) == (False, f"IAM user {name} does not exist")

    repaired = adapter.check(resource, repair=True)
    assert repaired.ok
    assert repaired.repaired == ("user re-created", "policy restored", "new access key issued")
    assert repaired.message == "repaired: " + ", ".join(repaired.repaired)
    assert repaired.credentials is not None and can_list(moto_s3, repaired.credentials)
    assert not can_list(moto_s3, resource)


def test_check_reactivates_a_disabled_key(
    adapter: S3Adapter, resource: Credentials, moto_s3: MotoS3, admin_iam
) -> None:
    admin_iam.update_access_key(UserName=user_of(resource), AccessKeyId=resource.username,
                                Status="Inactive")
    detected = adapter.check(resource, repair=False)
    assert detected.message == (
        f"access key {resource.username} of {user_of(resource)} is inactive")
    repaired = adapter.check(resource, repair=True)
    assert (repaired.ok, repaired.repaired, repaired.credentials) == (
        True, ("access key re-activated",), None)
    assert can_list(moto_s3, resource)


def test_check_replaces_a_key_whose_stored_secret_is_wrong(
    adapter: S3Adapter, resource: Credentials, moto_s3: MotoS3
) -> None:
    wrong = Credentials(resource.username, "not-the-secret-" + "x" * 24, resource.host,
                        resource.port, resource.database, resource.uri)
    detected = adapter.check(wrong, repair=False)
    assert not detected.ok
    assert detected.message.startswith(
        f"access key {resource.username} cannot list {resource.database}: ")
    assert wrong.password not in detected.message and resource.password not in detected.message
    repaired = adapter.check(wrong, repair=True)
    assert repaired.ok and repaired.repaired == ("new access key issued",)
    assert repaired.credentials is not None and can_list(moto_s3, repaired.credentials)


def test_check_of_a_lost_bucket_fails_without_repair(
    adapter: S3Adapter, resource: Credentials, admin_s3
) -> None:
    admin_s3.delete_bucket(Bucket=resource.database)
    result = adapter.check(resource, repair=True)
    assert not result.ok and result.repaired == ()
    assert result.message.startswith(f"bucket {resource.database} no longer exists")

