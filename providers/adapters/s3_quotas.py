"""Sizes of S3 buckets, and freezing a bucket over its size limit.

S3 has no catalog of sizes: a bucket's are summed from its object listing
(``list_objects_v2``, 1,000 objects a request), current versions only.

A frozen bucket carries a bucket-policy statement (``FREEZE_SID``) denying
``s3:PutObject`` (which covers multipart uploads and copies into it) to every principal;
reads and deletes stay allowed, so a tenant gets back under its limit by deleting objects.
S3 applies a bucket policy to every request at once, whatever the key, so a key issued
while the bucket is frozen is frozen too and no session needs ending. Statements of other
origins in the bucket's policy are kept. The instance's account needs
``s3:GetBucketPolicy``, ``s3:PutBucketPolicy`` and ``s3:DeleteBucketPolicy`` besides.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from providers.adapters.aws_errors import error_code
from providers.adapters.base import Access, Size, require_backend_name
from providers.adapters.s3_names import bucket_name

#: The statement of a frozen bucket's policy.
FREEZE_SID = "ResourceManagerFrozen"


def freeze_statement(bucket: str) -> dict[str, Any]:
    return {"Sid": FREEZE_SID, "Effect": "Deny", "Principal": "*",
            "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{bucket}/*"}


class S3Quotas:
    """``sizes``, ``freeze`` and ``unfreeze`` of the S3 adapter, which this is mixed into:
    it uses the adapter's S3 client and error mapping."""

    measures_size = True

    def sizes(self, backend_names: Iterable[str]) -> dict[str, Size]:
        found: dict[str, Size] = {}
        for name in map(require_backend_name, backend_names):
            bucket = bucket_name(name)
            with self._errors(f"measuring {bucket}"):
                if not self._bucket_exists(bucket):
                    continue
                total = count = 0
                for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                    for item in page.get("Contents", []):
                        total, count = total + int(item["Size"]), count + 1
            found[name] = Size(total, objects=count)
        return found

    def freeze(self, backend_name: str, logins: Mapping[str, Access]) -> list[str]:
        """Every key of the bucket is refused writes at once: the changed logins are all
        of them, or none when it was frozen already."""
        return self._set_frozen(backend_name, logins, frozen=True)

    def unfreeze(self, backend_name: str, logins: Mapping[str, Access]) -> list[str]:
        return self._set_frozen(backend_name, logins, frozen=False)

    def _set_frozen(self, backend_name: str, logins: Mapping[str, Access], *,
                    frozen: bool) -> list[str]:
        bucket = bucket_name(require_backend_name(backend_name))
        action = "freezing" if frozen else "unfreezing"
        with self._errors(f"{action} {bucket}"):
            statements = self._bucket_statements(bucket)
            others = [each for each in statements if each.get("Sid") != FREEZE_SID]
            if (len(others) < len(statements)) == frozen:
                return []
            if frozen:
                others.append(freeze_statement(bucket))
            if others:
                self._s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(
                    {"Version": "2012-10-17", "Statement": others}))
            else:
                self._s3.delete_bucket_policy(Bucket=bucket)
        return sorted(logins)

    def _bucket_statements(self, bucket: str) -> list[dict[str, Any]]:
        """The statements of the bucket's policy; none without one."""
        try:
            policy = self._s3.get_bucket_policy(Bucket=bucket)["Policy"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchBucketPolicy":
                return []
            raise
        return list(json.loads(policy).get("Statement", []))
