"""Logins of their own to an S3 resource, per access level, on moto with IAM enforcement."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from providers.adapters.base import Access, Credentials, Login, ProviderError
from providers.adapters.naming import new_login_name
from providers.adapters.s3 import S3Adapter
from tests.conftest import MotoS3
from tests.providers.s3_support import (
    error_code,
    iam_admin_client,  # noqa: F401 (fixture admin_iam)
    s3_adapter,  # noqa: F401 (fixture adapter)
    s3_names,  # noqa: F401 (fixture names)
    s3_resource,  # noqa: F401 (fixture resource)
    tenant,
    user_exists,
)


def _add(adapter: S3Adapter, owner: Credentials, access: Access) -> Credentials:
    backend_name = owner.database.replace("-", "_")
    return adapter.add_login(backend_name, Login(new_login_name(backend_name), "", access))


def _refused(attempt) -> str:
    with pytest.raises(ClientError) as excinfo:
        attempt()
    return error_code(excinfo)


def test_a_read_only_key_reads_the_bucket_and_a_read_write_key_writes_it(
    adapter: S3Adapter, resource: Credentials, moto_s3: MotoS3
) -> None:
    bucket = resource.database
    tenant(moto_s3, resource).put_object(Bucket=bucket, Key="report", Body=b"v1")
    reader = tenant(moto_s3, _add(adapter, resource, Access.READ_ONLY))
    writer = tenant(moto_s3, _add(adapter, resource, Access.READ_WRITE))

    assert reader.get_object(Bucket=bucket, Key="report")["Body"].read() == b"v1"
    assert [item["Key"] for item in reader.list_objects_v2(Bucket=bucket)["Contents"]] == [
        "report"]
    assert _refused(lambda: reader.put_object(Bucket=bucket, Key="x", Body=b"x")) == (
        "AccessDenied")
    assert _refused(lambda: reader.delete_object(Bucket=bucket, Key="report")) == (
        "AccessDenied")
    writer.put_object(Bucket=bucket, Key="report", Body=b"v2")
    assert reader.get_object(Bucket=bucket, Key="report")["Body"].read() == b"v2"
    writer.delete_object(Bucket=bucket, Key="report")


def test_removing_a_login_refuses_its_key_and_drops_its_user(
    adapter: S3Adapter, resource: Credentials, moto_s3: MotoS3, admin_iam
) -> None:
    login = _add(adapter, resource, Access.READ_ONLY)
    client = tenant(moto_s3, login)
    client.list_objects_v2(Bucket=resource.database)
    backend_name = resource.database.replace("-", "_")
    user = next(name for name in _login_users(admin_iam) if name.startswith(backend_name + "_"))

    adapter.remove_login(backend_name, user)

    assert _refused(lambda: client.list_objects_v2(Bucket=resource.database)) in (
        "AccessDenied", "InvalidAccessKeyId")
    assert not user_exists(admin_iam, user)
    adapter.remove_login(backend_name, user)  # gone already: nothing to do


def test_deleting_the_resource_removes_its_logins(
    adapter: S3Adapter, names, admin_iam
) -> None:
    owner = adapter.create(names(), "", {})
    for access in Access:
        _add(adapter, owner, access)
    backend_name = owner.database.replace("-", "_")

    adapter.delete(backend_name)

    assert [user for user in _login_users(admin_iam) if user.startswith(backend_name)] == []


def test_a_login_for_a_bucket_that_is_gone_is_refused(adapter: S3Adapter) -> None:
    with pytest.raises(ProviderError, match="does not exist"):
        adapter.add_login("rm_k7x2q9f3m1ab", Login("rm_k7x2q9f3m1ab_abcdef", "", Access.OWNER))


def _login_users(admin_iam) -> list[str]:
    return [user["UserName"] for user in admin_iam.list_users()["Users"]]
