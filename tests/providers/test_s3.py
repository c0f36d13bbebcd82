"""S3Adapter against moto in server mode with IAM enforcement (``moto_s3`` in conftest).

Every request after moto's bootstrap is signed and checked against IAM policies, so the
tenants' access keys are really confined to their buckets. Outcomes are asserted with
plain boto3 clients: as the tenant (what its key may do) and as the admin (what exists).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from providers.adapters.base import Credentials, InstanceConfig, ProviderError
from providers.adapters.naming import new_backend_name
from providers.adapters.s3 import (
    POLICY_NAME,
    S3Adapter,
    backend_name_of,
    bucket_name,
    bucket_policy,
)
from resourcemanager.resources.models import Resource
from resourcemanager.resources.orphans import delete_orphan, scan_instance
from resourcemanager.resources.sweeps import healthy_names
from tests.conftest import MotoS3
from tests.support.naming import issued_names

TEAM_A = "/api/c/team-a/resources"


def instance(moto_s3: MotoS3, **options: object) -> InstanceConfig:
    return InstanceConfig(host=moto_s3.host, port=moto_s3.port, username=moto_s3.access_key,
                          password=moto_s3.secret_key, options={"secure": False, **options})


@pytest.fixture
def adapter(moto_s3: MotoS3) -> S3Adapter:
    return S3Adapter(instance(moto_s3, clear_on_delete=True))


@pytest.fixture
def names(adapter: S3Adapter) -> Iterator[Callable[[], str]]:
    """Hands out backend names; deletes whatever bucket and user of that name are left."""
    with issued_names(adapter.delete) as issue:
        yield issue


@pytest.fixture
def resource(adapter: S3Adapter, names: Callable[[], str]) -> Credentials:
    return adapter.create(names(), "ignored", {})


@pytest.fixture
def admin_s3(moto_s3: MotoS3):
    return moto_s3.client("s3")


@pytest.fixture
def admin_iam(moto_s3: MotoS3):
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- names and metadata ------------------------------------------------------------------


def test_adapter_metadata() -> None:
    assert (S3Adapter.key, S3Adapter.resource_type, S3Adapter.uri_scheme) == ("s3", "object", "s3")
    assert {"secure", "endpoint_url", "iam_endpoint_url", "region", "iam_path",
            "clear_on_delete"} <= set(S3Adapter.instance_options)


def test_bucket_names_map_back_to_backend_names() -> None:
    assert bucket_name("rm_k7x2q9f3m1ab") == "rm-k7x2q9f3m1ab"
    assert backend_name_of("rm-k7x2q9f3m1ab") == "rm_k7x2q9f3m1ab"
    assert bucket_name("rm_admin_k7x2q9f3m1ab") == "rm-admin-k7x2q9f3m1ab"
    assert backend_name_of("rm_k7x2q9f3m1ab") is None  # no bucket of ours holds "_"


@pytest.mark.parametrize("name", ["Robert'); --", "rm-abc", "../rm_x", "rm_abc/def"])
def test_names_that_are_not_ours_are_refused(adapter: S3Adapter, name: str) -> None:
    for operation in (adapter.delete, lambda n: adapter.create(n, "", {})):
        with pytest.raises(ProviderError, match="refusing invalid backend identifier"):
            operation(name)


@pytest.mark.parametrize("bucket", ["rm_k7x2q9f3m1ab", "Robert'); --", "a.b"])
def test_check_refuses_buckets_that_are_not_ours(adapter: S3Adapter, bucket: str) -> None:
    stored = Credentials("AKIAEXAMPLE", "secret", "h", 1, bucket, f"s3://{bucket}")
    with pytest.raises(ProviderError, match="refusing invalid"):
        adapter.check(stored, repair=True)


def test_bad_options_are_readable(moto_s3: MotoS3, names: Callable[[], str]) -> None:
    with pytest.raises(ProviderError, match="option secure must be true or false"):
        S3Adapter(instance(moto_s3, secure="maybe")).ping()
    with pytest.raises(ProviderError, match="option iam_path must start and end with '/'"):
        S3Adapter(instance(moto_s3, iam_path="rm")).create(names(), "", {})  # bucket made
    with pytest.raises(ProviderError, match="invalid S3 endpoint URL 'not a url'"):
        S3Adapter(instance(moto_s3, endpoint_url="not a url")).ping()


def test_endpoint_from_options(moto_s3: MotoS3) -> None:
    config = InstanceConfig(host="s3.example.org", port=443, username="a", password="b")
    assert S3Adapter(config).endpoint == "https://s3.example.org:443"
    assert S3Adapter(config).iam_endpoint == "https://s3.example.org:443"
    options = {"endpoint_url": "http://minio:9000", "iam_endpoint_url": "https://iam.example"}
    other = S3Adapter(InstanceConfig("h", 1, "a", "b", options=options))
    assert (other.endpoint, other.iam_endpoint) == ("http://minio:9000", "https://iam.example")
    assert S3Adapter(instance(moto_s3, secure="false")).endpoint == moto_s3.endpoint


def test_ping(adapter: S3Adapter) -> None:
    adapter.ping()


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


# -- check -----------------------------------------------------------------------------


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


# -- inventory -------------------------------------------------------------------------


def test_inventory_sees_ours_and_ignores_foreign_names(
    adapter: S3Adapter, names: Callable[[], str], moto_s3: MotoS3, admin_s3, admin_iam
) -> None:
    healthy, broken, bucket_only = names(), names(), names()
    for name in (healthy, broken):
        adapter.create(name, "", {})
    admin_iam.delete_user_policy(UserName=broken, PolicyName=POLICY_NAME)
    admin_s3.create_bucket(Bucket=bucket_name(bucket_only))
    foreign_buckets = ["rm-aaaaaaaaaaaa-x", "rm-aaaaaaaaaaa", "xrm-aaaaaaaaaaaa"]
    foreign_users = ["rm_aaaaaaaaaaaa'", "rm_aaaaaaaaaaaa_x", "RM_AAAAAAAAAAAA"]
    try:
        for bucket in foreign_buckets:
            admin_s3.create_bucket(Bucket=bucket)
        for user in foreign_users:
            admin_iam.create_user(UserName=user)

        found = adapter.inventory("rm_")
    finally:
        for bucket in foreign_buckets:
            admin_s3.delete_bucket(Bucket=bucket)
        for user in foreign_users:
            admin_iam.delete_user(UserName=user)

    assert {healthy, broken, bucket_only} <= found.databases
    assert {healthy, broken} <= found.logins and bucket_only not in found.logins
    assert healthy in found.healthy and broken not in found.healthy
    everything = found.names
    assert all(name.startswith("rm_") and len(name) == 15 for name in everything)
    assert not {"rm_aaaaaaaaaaaa", "rm_aaaaaaaaaaa"} & everything
    assert adapter.inventory("other_").names.isdisjoint({healthy, broken, bucket_only})


# -- errors ----------------------------------------------------------------------------


def test_an_unreachable_endpoint_is_a_transient_readable_error(moto_s3: MotoS3) -> None:
    port = free_port()
    config = InstanceConfig(host="127.0.0.1", port=port, username=moto_s3.access_key,
                            password=moto_s3.secret_key, options={"secure": False},
                            connect_timeout=2)
    down = S3Adapter(config)
    tenant_secret = "tenant-secret-" + "s" * 26
    stored = Credentials("AKIAEXAMPLE", tenant_secret, "127.0.0.1", port, "rm-aaaaaaaaaaaa",
                         "s3://rm-aaaaaaaaaaaa")
    for operation in (down.ping, lambda: down.create(new_backend_name(), "", {}),
                      lambda: down.check(stored, repair=True),
                      lambda: down.delete(new_backend_name()), lambda: down.inventory("rm_")):
        with pytest.raises(ProviderError) as excinfo:
            operation()
        error = excinfo.value
        assert error.transient
        assert error.message == f"cannot reach S3 at http://127.0.0.1:{port}: connection refused"
        assert error.__cause__ is None and error.__suppress_context__
        assert moto_s3.secret_key not in str(error) and tenant_secret not in str(error)


def test_a_wrong_admin_secret_is_a_permanent_error_without_the_secret(
    moto_s3: MotoS3
) -> None:
    wrong_secret = "wrong-admin-secret-" + "w" * 21
    config = InstanceConfig(host=moto_s3.host, port=moto_s3.port, username=moto_s3.access_key,
                            password=wrong_secret, options={"secure": False})
    with pytest.raises(ProviderError) as excinfo:
        S3Adapter(config).ping()
    assert not excinfo.value.transient
    assert excinfo.value.message.startswith(f"S3 at {moto_s3.endpoint}: ping failed: ")
    assert "SignatureDoesNotMatch" in excinfo.value.message
    assert wrong_secret not in excinfo.value.message


# -- through the API -------------------------------------------------------------------


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
    checked = client.get(url).json()
    assert checked["last_check"]["ok"] is True, checked["last_check"]
    second = Credentials.from_dict(checked["credentials"])
    assert second.username != first.username
    assert tenant(moto_s3, second).get_object(Bucket=second.database, Key="a")[
        "Body"].read() == b"x"

    assert client.delete(url).json()["status"] == "deleted"
    assert not bucket_exists(admin_s3, first.database)
    assert not user_exists(admin_iam, name)


def test_sweep_and_orphan_scan_read_the_s3_inventory(
    make_client, s3_provider, adapter: S3Adapter, names: Callable[[], str]
) -> None:
    """The batched sweep finds a live bucket healthy; the orphan scan lists one nobody owns
    (as a backend name) and drops it through DELETE."""
    client = make_client(team_a="RESOURCE_ADMIN")
    body = client.post(TEAM_A, {"provider": "s3", "name": "live"}, format="json").json()
    live = Resource.objects.get(pk=body["id"]).backend_name
    orphan = new_backend_name(s3_provider.adapter().name_prefix)
    adapter.create(orphan, "", {})

    assert live in healthy_names(s3_provider.adapter(), [live])
    found = {item.name: (item.database, item.login) for item in scan_instance(s3_provider).objects}
    assert found.get(orphan) == (True, True) and live not in found
    assert delete_orphan(s3_provider, orphan) == ""
    assert orphan not in adapter.inventory(s3_provider.adapter().name_prefix).names
