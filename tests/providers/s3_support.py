"""What the S3 adapter tests share: the adapter on ``moto_s3``, its names and resources,
admin and tenant clients, and readings of what exists.

The fixtures are named ``adapter``, ``names``, ``resource``, ``admin_s3`` and ``admin_iam``;
a module imports those it asks for and those they ask for (``resource`` needs ``names``
and ``adapter``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from botocore.exceptions import ClientError

from providers.adapters.base import Credentials, InstanceConfig
from providers.adapters.s3 import S3Adapter
from tests.conftest import MotoS3
from tests.support.naming import issued_names

TEAM_A = "/api/c/team-a/resources"


def instance(moto_s3: MotoS3, **options: object) -> InstanceConfig:
    return InstanceConfig(host=moto_s3.host, port=moto_s3.port, username=moto_s3.access_key,
                          password=moto_s3.secret_key, options={"secure": False, **options})


@pytest.fixture(name="adapter")
def s3_adapter(moto_s3: MotoS3) -> S3Adapter:
    return S3Adapter(instance(moto_s3, clear_on_delete=True))


@pytest.fixture(name="names")
def s3_names(adapter: S3Adapter) -> Iterator[Callable[[], str]]:
    """Hands out backend names; deletes whatever bucket and user of that name are left."""
    with issued_names(adapter.delete) as issue:
        yield issue


@pytest.fixture(name="resource")
def s3_resource(adapter: S3Adapter, names: Callable[[], str]) -> Credentials:
    return adapter.create(names(), "ignored", {})


@pytest.fixture(name="admin_s3")
def s3_admin_client(moto_s3: MotoS3):
    return moto_s3.client("s3")


@pytest.fixture(name="admin_iam")
def iam_admin_client(moto_s3: MotoS3):
    return moto_s3.client("iam")


def tenant(moto_s3: MotoS3, credentials: Credentials):
    return moto_s3.client("s3", credentials.username, credentials.password)


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


def can_list(moto_s3: MotoS3, credentials: Credentials) -> bool:
    try:
        tenant(moto_s3, credentials).list_objects_v2(Bucket=credentials.database)
    except ClientError:
        return False
    return True


def user_of(credentials: Credentials) -> str:
    return credentials.database.replace("-", "_")


def key_ids(admin_iam, user: str) -> list[str]:
    return [key["AccessKeyId"]
            for key in admin_iam.list_access_keys(UserName=user)["AccessKeyMetadata"]]


def bucket_exists(admin_s3, bucket: str) -> bool:
    try:
        admin_s3.head_bucket(Bucket=bucket)
    except ClientError:
        return False
    return True


def user_exists(admin_iam, user: str) -> bool:
    try:
        admin_iam.get_user(UserName=user)
    except ClientError:
        return False
    return True

