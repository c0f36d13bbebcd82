"""S3Adapter creating and deleting buckets against moto in server mode with IAM enforcement
(``moto_s3`` in conftest).

Every request after moto's bootstrap is signed and checked against IAM policies, so the
tenants' access keys are really confined to their buckets. Outcomes are asserted with
plain boto3 clients: as the tenant (what its key may do) and as the admin (what exists).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from providers.adapters.base import Credentials, ProviderError
from providers.adapters.s3 import S3Adapter
from providers.adapters.s3_names import POLICY_NAME, bucket_name, bucket_policy
from tests.conftest import MotoS3
from tests.providers.s3_support import (
    bucket_exists,
    can_list,
    error_code,
    iam_admin_client,  # noqa: F401 (fixture admin_iam)
    instance,
    key_ids,
    s3_adapter,  # noqa: F401 (fixture adapter)
    s3_admin_client,  # noqa: F401 (fixture admin_s3)
    s3_names,  # noqa: F401 (fixture names)
    s3_resource,  # noqa: F401 (fixture resource)
    tenant,
    user_exists,
    user_of,
)

# -- create ----------------------------------------------------------------------------


def test_create_issues_a_key_that_works_on_its_bucket(
    resource: Credentials, moto_s3: MotoS3, admin_iam
) -> None:
    name = user_of(resource)
    assert resource.database == bucket_name(name)
    assert (resource.host, resource.port) == (moto_s3.host, moto_s3.port)
    assert resource.uri == (f"s3://{resource.username}:{quote(resource.password, safe='')}"
                            f"@{moto_s3.host}:{moto_s3.port}/{resource.database}")
    assert S3Adapter.parse_uri(resource.uri) == resource
    assert resource.password not in ("ignored", "") and resource.username != name
    client = tenant(moto_s3, resource)
    client.put_object(Bucket=resource.database, Key="notes/1.txt", Body=b"hello")
    assert client.get_object(Bucket=resource.database, Key="notes/1.txt")["Body"].read() == (
        b"hello")
    listed = client.list_objects_v2(Bucket=resource.database)["Contents"]
    assert [item["Key"] for item in listed] == ["notes/1.txt"]
    client.delete_object(Bucket=resource.database, Key="notes/1.txt")
    assert key_ids(admin_iam, name) == [resource.username]
    policy = admin_iam.get_user_policy(UserName=name, PolicyName=POLICY_NAME)
    assert policy["PolicyDocument"] == bucket_policy(resource.database)
    assert admin_iam.list_user_policies(UserName=name)["PolicyNames"] == [POLICY_NAME]


def test_a_key_reaches_nothing_but_its_bucket(
    adapter: S3Adapter, names: Callable[[], str], moto_s3: MotoS3
) -> None:
    """A key from one resource (another scope's, say) is refused on another's bucket."""
    mine, theirs = (adapter.create(names(), "", {}) for _ in range(2))
    tenant(moto_s3, theirs).put_object(Bucket=theirs.database, Key="secret", Body=b"x")
    client = tenant(moto_s3, mine)
    attempts = {
        "get": lambda: client.get_object(Bucket=theirs.database, Key="secret"),
        "put": lambda: client.put_object(Bucket=theirs.database, Key="mine", Body=b"y"),
        "list": lambda: client.list_objects_v2(Bucket=theirs.database),
        "delete": lambda: client.delete_object(Bucket=theirs.database, Key="secret"),
        "list buckets": client.list_buckets,
        "create bucket": lambda: client.create_bucket(Bucket="rm-zzzzzzzzzzzz"),
        "delete own bucket": lambda: client.delete_bucket(Bucket=mine.database),
        "own bucket policy": lambda: client.put_bucket_policy(
            Bucket=mine.database, Policy=json.dumps(bucket_policy(mine.database))),
        "IAM": moto_s3.client("iam", mine.username, mine.password).list_users,
    }
    for what, attempt in attempts.items():
        with pytest.raises(ClientError) as excinfo:
            attempt()
        assert error_code(excinfo) == "AccessDenied", what
    assert tenant(moto_s3, theirs).get_object(Bucket=theirs.database, Key="secret")[
        "Body"].read() == b"x"


def test_create_again_leaves_exactly_one_new_key(
    adapter: S3Adapter, resource: Credentials, moto_s3: MotoS3, admin_iam
) -> None:
    name = user_of(resource)
    admin_iam.create_access_key(UserName=name)  # a second key: the most IAM allows
    tenant(moto_s3, resource).put_object(Bucket=resource.database, Key="kept", Body=b"1")

    again = adapter.create(name, "", {})

    assert again.database == resource.database
    assert key_ids(admin_iam, name) == [again.username]
    assert again.username != resource.username
    assert not can_list(moto_s3, resource)
    assert tenant(moto_s3, again).get_object(Bucket=again.database, Key="kept")[
        "Body"].read() == b"1"


def test_create_finishes_what_a_crashed_create_left(
    adapter: S3Adapter, names: Callable[[], str], moto_s3: MotoS3, admin_s3, admin_iam
) -> None:
    """The bucket alone, or bucket and user without policy or key: CREATE completes it."""
    bucket_only, without_policy = names(), names()
    admin_s3.create_bucket(Bucket=bucket_name(bucket_only))
    admin_s3.create_bucket(Bucket=bucket_name(without_policy))
    admin_iam.create_user(UserName=without_policy)

    for name in (bucket_only, without_policy):
        credentials = adapter.create(name, "", {})
        assert can_list(moto_s3, credentials)
        assert key_ids(admin_iam, name) == [credentials.username]


def test_iam_path_option(moto_s3: MotoS3, names: Callable[[], str], admin_iam) -> None:
    adapter = S3Adapter(instance(moto_s3, iam_path="/resourcemanager/"))
    name = names()
    adapter.create(name, "", {})
    assert admin_iam.get_user(UserName=name)["User"]["Path"] == "/resourcemanager/"
    assert name in adapter.inventory("rm_").healthy


# -- delete ----------------------------------------------------------------------------


def test_delete_removes_key_policy_user_and_bucket_with_its_objects(
    adapter: S3Adapter, resource: Credentials, moto_s3: MotoS3, admin_s3, admin_iam
) -> None:
    name = user_of(resource)
    for number in range(3):
        tenant(moto_s3, resource).put_object(Bucket=resource.database, Key=f"o{number}",
                                             Body=b"x")

    adapter.delete(name)

    assert not bucket_exists(admin_s3, resource.database)
    assert not user_exists(admin_iam, name)
    with pytest.raises(ClientError) as excinfo:
        tenant(moto_s3, resource).list_objects_v2(Bucket=resource.database)
    assert error_code(excinfo) in ("InvalidAccessKeyId", "InvalidClientTokenId")
    adapter.delete(name)  # again: nothing left, nothing to complain about


def test_delete_empties_a_versioned_bucket(
    adapter: S3Adapter, resource: Credentials, moto_s3: MotoS3, admin_s3
) -> None:
    admin_s3.put_bucket_versioning(Bucket=resource.database,
                                   VersioningConfiguration={"Status": "Enabled"})
    client = tenant(moto_s3, resource)
    for body in (b"v1", b"v2"):
        client.put_object(Bucket=resource.database, Key="doc", Body=body)
    client.put_object(Bucket=resource.database, Key="gone", Body=b"x")
    client.delete_object(Bucket=resource.database, Key="gone")  # leaves a delete marker
    listing = admin_s3.list_object_versions(Bucket=resource.database)
    assert len(listing["Versions"]) == 3 and len(listing["DeleteMarkers"]) == 1

    adapter.delete(user_of(resource))

    assert not bucket_exists(admin_s3, resource.database)


def test_delete_after_a_crash_halfway(
    adapter: S3Adapter, resource: Credentials, admin_s3, admin_iam
) -> None:
    """User gone but bucket left (or the reverse): DELETE removes the rest."""
    name = user_of(resource)
    admin_iam.delete_access_key(UserName=name, AccessKeyId=resource.username)
    admin_iam.delete_user_policy(UserName=name, PolicyName=POLICY_NAME)
    admin_iam.delete_user(UserName=name)
    adapter.delete(name)
    assert not bucket_exists(admin_s3, resource.database)


def test_delete_without_clear_on_delete_refuses_a_bucket_with_objects(
    moto_s3: MotoS3, resource: Credentials, admin_s3, admin_iam
) -> None:
    keeping = S3Adapter(instance(moto_s3))  # clear_on_delete defaults to false
    name = user_of(resource)
    tenant(moto_s3, resource).put_object(Bucket=resource.database, Key="data", Body=b"x")

    with pytest.raises(ProviderError) as excinfo:
        keeping.delete(name)

    assert excinfo.value.message == (
        f"bucket {resource.database} is not empty; empty it first, or set clear_on_delete "
        "on the instance to delete its objects")
    assert not excinfo.value.transient
    # Nothing was removed: the tenant may still empty its bucket, then DELETE succeeds.
    assert user_exists(admin_iam, name) and bucket_exists(admin_s3, resource.database)
    tenant(moto_s3, resource).delete_object(Bucket=resource.database, Key="data")
    keeping.delete(name)
    assert not bucket_exists(admin_s3, resource.database)
    assert not user_exists(admin_iam, name)

