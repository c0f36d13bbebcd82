"""How S3 resources are named and what their users may do: bucket names from backend
names and back, and the users' inline policies."""

from __future__ import annotations

from typing import Any

from providers.adapters.base import Access, require_backend_name

_READ_OBJECTS = ["s3:GetObject"]
_WRITE_OBJECTS = [*_READ_OBJECTS, "s3:PutObject", "s3:DeleteObject",
                  "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
#: Name of the inline policy each tenant user carries.
POLICY_NAME = "resourcemanager-bucket"
def bucket_name(backend_name: str) -> str:
    """The bucket of a backend name: ``_`` is not allowed in bucket names, ``-`` is."""
    return require_backend_name(backend_name).replace("_", "-")


def backend_name_of(bucket: str) -> str | None:
    """The backend name whose bucket is ``bucket``; None when no backend name maps to it."""
    return None if "_" in bucket else bucket.replace("-", "_")


def bucket_policy(bucket: str, access: Access = Access.OWNER) -> dict[str, Any]:
    """A tenant user's inline policy: its bucket and that bucket's objects, nothing else;
    read-only users read the objects, the others also write and delete them (no one
    changes a bucket's policy or ACL)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
             "Resource": f"arn:aws:s3:::{bucket}"},
            {"Effect": "Allow",
             "Action": _READ_OBJECTS if access == Access.READ_ONLY else _WRITE_OBJECTS,
             "Resource": f"arn:aws:s3:::{bucket}/*"},
        ],
    }


