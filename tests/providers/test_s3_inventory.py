"""The S3 inventory: which buckets and IAM users the adapter counts as ours, and the batched
sweep and orphan scan that read it."""

from __future__ import annotations

from collections.abc import Callable

from providers.adapters.naming import new_backend_name
from providers.adapters.s3 import S3Adapter
from providers.adapters.s3_names import POLICY_NAME, bucket_name
from resourcemanager.resources.models import Resource
from resourcemanager.resources.orphans import delete_orphan, scan_instance
from resourcemanager.resources.sweeps import healthy_names
from tests.conftest import MotoS3
from tests.providers.s3_support import (
    TEAM_A,
    iam_admin_client,  # noqa: F401 (fixture admin_iam)
    s3_adapter,  # noqa: F401 (fixture adapter)
    s3_admin_client,  # noqa: F401 (fixture admin_s3)
    s3_names,  # noqa: F401 (fixture names)
)

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


# -- the sweep and the orphan scan ---------------------------------------------------


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
