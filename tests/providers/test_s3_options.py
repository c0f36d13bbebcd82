"""S3Adapter's metadata, bucket names and the names it refuses, its instance options and
endpoints, and a ping."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from providers.adapters.base import Credentials, InstanceConfig, ProviderError
from providers.adapters.s3 import S3Adapter
from providers.adapters.s3_names import backend_name_of, bucket_name
from tests.conftest import MotoS3
from tests.providers.s3_support import (
    instance,
    s3_adapter,  # noqa: F401 (fixture adapter)
    s3_names,  # noqa: F401 (fixture names)
)


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

