"""S3: one bucket, one IAM user with an inline policy limited to it, and one access key.

Backend names (``rm_`` + 12 ``[a-z0-9]``) contain ``_``, which bucket names forbid, so the
bucket is the backend name with every ``_`` turned into ``-`` (``rm_k7x2q9f3m1ab`` ->
``rm-k7x2q9f3m1ab``); names never contain ``-``, so the mapping is reversible. The IAM user
and its inline policy keep the backend name. IAM generates the secret: ``create`` ignores
the password it is given, and tenants get ``username`` = access key id, ``password`` =
secret access key, ``host``/``port`` = the endpoint (``public_host``/``public_port``),
``database`` = the bucket, and ``uri`` = ``s3://<key id>:<secret>@<host>:<port>/<bucket>``,
the shape of every adapter's URI, which ``parse_uri`` reads back.

The user's policy allows ``s3:ListBucket`` and ``s3:GetBucketLocation`` on the bucket and
object reads, writes, deletes and multipart uploads on its objects; nothing else (no ACL or
bucket policy changes, so a tenant cannot publish its bucket).

The instance's account (username = access key id, password = secret) needs, on buckets and
users named like ours: ``s3:ListAllMyBuckets``, ``s3:CreateBucket``, ``s3:DeleteBucket``,
``s3:ListBucket``, ``s3:ListBucketVersions``, ``s3:DeleteObject``, ``s3:DeleteObjectVersion``,
``s3:GetBucketVersioning``, ``s3:PutBucketVersioning``;
``iam:ListUsers``, ``iam:GetUser``, ``iam:CreateUser``, ``iam:DeleteUser``,
``iam:GetUserPolicy``, ``iam:PutUserPolicy``, ``iam:DeleteUserPolicy``,
``iam:ListAccessKeys``, ``iam:CreateAccessKey``, ``iam:UpdateAccessKey``,
``iam:DeleteAccessKey``. On AWS, IAM changes take a few seconds to reach S3: a key
is not usable at once after it is issued.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any
from urllib.parse import quote

import boto3
import botocore.session
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.loaders import create_loader

from providers.adapters.aws_errors import MISSING, error_code, missing_ok, reason, transient
from providers.adapters.base import (
    CheckResult,
    Credentials,
    Inventory,
    ProviderAdapter,
    ProviderError,
    require_backend_name,
    require_login_name,
    scrub,
)
from providers.adapters.checkpoints import CREATE_HALF_DONE, DELETE_HALF_DONE, checkpoint
from providers.adapters.properties import FALSE_TEXT, TRUE_TEXT, PropertySpec
from providers.adapters.s3_dumps import S3Dumps
from providers.adapters.s3_logins import S3Logins
from providers.adapters.s3_names import (
    POLICY_NAME,
    backend_name_of,
    bucket_name,
    bucket_policy,
)
from providers.adapters.s3_quotas import S3Quotas

#: botocore's data files (endpoints, service models), parsed once per process: each client
#: has a session of its own (its own keys), which would otherwise parse them again.
_DATA_LOADER = create_loader()


class S3Adapter(S3Dumps, S3Logins, S3Quotas, ProviderAdapter):
    key = "s3"
    label = "S3"
    resource_type = "object"
    uri_scheme = "s3"
    object_noun = "bucket"
    login_noun = "IAM user"
    default_port = 443
    instance_options = {
        "secure": PropertySpec("Use https for host:port (default true)", kind="boolean"),
        "endpoint_url": PropertySpec("S3 endpoint URL, instead of host, port and secure",
                                     kind="url"),
        "iam_endpoint_url": PropertySpec("IAM endpoint URL, when IAM is not served at the S3 "
                                         "endpoint", kind="url"),
        "region": PropertySpec("Region of the buckets and request signatures (default "
                               "'us-east-1')"),
        "iam_path": PropertySpec("Path of the IAM users made, e.g. '/resourcemanager/' "
                                 "(default '/')"),
        "clear_on_delete": PropertySpec("Delete buckets with their objects (all versions); "
                                        "without it (default false) DELETE of a non-empty "
                                        "bucket fails", kind="boolean"),
    }
    properties = {
        "versioning": PropertySpec(
            "Keep every version of the bucket's objects (turned off: suspended, the versions "
            "kept so far stay)", kind="boolean", default=False),
    }

    @classmethod
    def object_name(cls, backend_name: str) -> str:
        return bucket_name(backend_name)

    # -- settings -----------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        if url := self.config.options.get("endpoint_url"):
            return str(url)
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        scheme = "https" if self._flag("secure", default=True) else "http"
        return f"{scheme}://{host}:{self.config.port}"

    @property
    def iam_endpoint(self) -> str:
        return str(self.config.options.get("iam_endpoint_url") or self.endpoint)

    @property
    def region(self) -> str:
        return str(self.config.options.get("region") or "us-east-1")

    @property
    def iam_path(self) -> str:
        path = str(self.config.options.get("iam_path") or "/")
        if not re.fullmatch(r"/([\x21-\x7e]+/)?", path):
            raise ProviderError(f"option iam_path must start and end with '/', not {path!r}")
        return path

    def _flag(self, option: str, *, default: bool) -> bool:
        """A boolean option; URL-declared instances hold it as text (``?secure=false``)."""
        value = self.config.options.get(option, default)
        if isinstance(value, bool):
            return value
        if (text := str(value).strip().lower()) in TRUE_TEXT | FALSE_TEXT:
            return text in TRUE_TEXT
        raise ProviderError(f"option {option} must be true or false, not {value!r}")

    # -- operations ---------------------------------------------------------------------

    def ping(self) -> None:
        with self._errors("ping"):
            self._s3.list_buckets()
            self._iam.list_users(MaxItems=1)

    def create(self, backend_name: str, password: str, properties: dict[str, Any]) -> Credentials:
        """Bucket, user, policy, then exactly one fresh key (``password`` is not used)."""
        name = require_backend_name(backend_name)
        bucket = bucket_name(name)
        with self._errors(f"creating {bucket}"):
            self._create_bucket(bucket)
            self._set_versioning(bucket, bool(properties.get("versioning")))
            checkpoint(CREATE_HALF_DONE)
            self._ensure_user(name)
            self._put_policy(name, bucket)
            return self._new_key(name, bucket)

    def update(
        self, backend_name: str, properties: dict[str, Any], *, owner_login: str | None = None
    ) -> None:
        bucket = bucket_name(backend_name)
        with self._errors(f"updating {bucket}"):
            self._set_versioning(bucket, bool(properties.get("versioning")))

    def delete(self, backend_name: str) -> None:
        """Keys, policy and user, then the bucket. Without ``clear_on_delete`` a bucket with
        objects is refused before anything is removed, so the tenant may still empty it."""
        name = require_backend_name(backend_name)
        bucket = bucket_name(name)
        clear = self._flag("clear_on_delete", default=False)
        with self._errors(f"deleting {bucket}"):
            if not clear and self._has_objects(bucket):
                raise ProviderError(f"bucket {bucket} is not empty; empty it first, or set "
                                    "clear_on_delete on the instance to delete its objects")
            self._remove_logins(name)
            with missing_ok():
                for key in self._keys(name):
                    self._iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
            with missing_ok():
                self._iam.delete_user_policy(UserName=name, PolicyName=POLICY_NAME)
            with missing_ok():
                self._iam.delete_user(UserName=name)
            checkpoint(DELETE_HALF_DONE)
            if clear:
                self._empty(bucket)
            try:
                self._s3.delete_bucket(Bucket=bucket)
            except ClientError as exc:
                if error_code(exc) == "BucketNotEmpty":  # objects written since the first look
                    raise ProviderError(f"bucket {bucket} is not empty") from None
                if error_code(exc) not in MISSING:
                    raise

    def check(
        self, credentials: Credentials, *, repair: bool, owner_login: str | None = None
    ) -> CheckResult:
        """``owner_login``: the IAM user of the key, when not the owner's own."""
        bucket, secret = credentials.database, credentials.password
        name = backend_name_of(bucket)
        if name is None:
            raise ProviderError(f"refusing invalid bucket name {bucket!r}")
        require_backend_name(name)
        user = name if owner_login is None else require_login_name(owner_login, name)
        repaired: list[str] = []
        issued: Credentials | None = None

        def result(ok: bool, message: str) -> CheckResult:
            if ok and repaired:
                message = "repaired: " + ", ".join(repaired)
            return CheckResult(ok, message, tuple(repaired), issued)

        with self._errors(f"checking {bucket}", secret):
            if not self._bucket_exists(bucket):
                return result(False, f"bucket {bucket} no longer exists; its data is lost and "
                                     "cannot be restored by a repair")
            if not self._user_exists(user):
                if not repair:
                    return result(False, f"IAM user {user} does not exist")
                self._ensure_user(user)
                repaired.append("user re-created")
            if self._policy(user) != bucket_policy(bucket):
                if not repair:
                    return result(False, f"IAM user {user} lacks its policy on {bucket}")
                self._put_policy(user, bucket)
                repaired.append("policy restored")
            key_id = credentials.username
            status = next((key["Status"] for key in self._keys(user)
                           if key["AccessKeyId"] == key_id), None)
            if status is None:
                if not repair:
                    return result(False, f"access key {key_id} of {user} no longer exists")
                issued = self._new_key(user, bucket)
                repaired.append("new access key issued")
            elif status != "Active":
                if not repair:
                    return result(False, f"access key {key_id} of {user} is {status.lower()}")
                self._iam.update_access_key(UserName=user, AccessKeyId=key_id, Status="Active")
                repaired.append("access key re-activated")
            current = issued or credentials
            failure = self._tenant_probe(current)
            if failure and repair and issued is None:
                issued = self._new_key(user, bucket)
                repaired.append("new access key issued")
                current = issued
                failure = self._tenant_probe(current)
            if failure:
                return result(False, f"access key {current.username} cannot list {bucket}: "
                                     + scrub(failure, current.password, secret))
        return result(True, "bucket, user, policy and access key are in order")

    def inventory(self, prefix: str) -> Inventory:
        """Buckets (as backend names) and users named like ours; healthy: both, the policy
        unchanged and an active key. Costs two IAM calls per resource (S3 has no catalog)."""
        with self._errors("listing buckets and users"):
            buckets = [bucket["Name"] for bucket in self._s3.list_buckets().get("Buckets", [])]
            users = [user["UserName"]
                     for page in self._iam.get_paginator("list_users").paginate(
                         PathPrefix=self.iam_path)
                     for user in page["Users"]]
            found = Inventory.matching(prefix, filter(None, map(backend_name_of, buckets)),
                                       users, ())
            healthy = [name for name in sorted(found.databases & found.logins)
                       if self._policy(name) == bucket_policy(bucket_name(name))
                       and any(key["Status"] == "Active" for key in self._keys(name))]
        return Inventory(found.databases, found.logins, frozenset(healthy))

    # -- helpers --------------------------------------------------------------------------

    def _client(self, service: str, key_id: str, secret: str) -> BaseClient:
        core = botocore.session.get_session()
        core.register_component("data_loader", _DATA_LOADER)
        session = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=secret,
                                        region_name=self.region, botocore_session=core)
        config = Config(connect_timeout=self.config.connect_timeout,
                        read_timeout=self.config.read_timeout,
                        retries={"mode": "standard", "total_max_attempts": 2},
                        s3={"addressing_style": "path"})
        endpoint = self.iam_endpoint if service == "iam" else self.endpoint
        try:
            return session.client(service, endpoint_url=endpoint, config=config)
        except ValueError:  # botocore's "Invalid endpoint"
            raise ProviderError(f"invalid {service.upper()} endpoint URL {endpoint!r}") from None

    @cached_property
    def _s3(self) -> BaseClient:
        return self._client("s3", self.config.username, self.config.password)

    @cached_property
    def _iam(self) -> BaseClient:
        return self._client("iam", self.config.username, self.config.password)

    @contextmanager
    def _errors(self, action: str, *secrets: str) -> Iterator[None]:
        """botocore errors become ProviderErrors without secrets; unreachable is transient."""
        hide = (self.config.password, *secrets)
        try:
            yield
        except (BotoConnectionError, HTTPClientError) as exc:
            message = f"cannot reach S3 at {self.endpoint}: {reason(exc)}"
            raise ProviderError(scrub(message, *hide), transient=True) from None
        except (BotoCoreError, ClientError) as exc:
            message = f"S3 at {self.endpoint}: {action} failed: {reason(exc)}"
            raise ProviderError(scrub(message, *hide), transient=transient(exc)) from None

    def _create_bucket(self, bucket: str) -> None:
        extra: dict[str, Any] = {}
        if self.region != "us-east-1":
            extra["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self._s3.create_bucket(Bucket=bucket, **extra)
        except ClientError as exc:
            if error_code(exc) == "BucketAlreadyExists":
                raise ProviderError(f"bucket name {bucket} is taken by another account") from None
            if error_code(exc) != "BucketAlreadyOwnedByYou":
                raise

    def _set_versioning(self, bucket: str, enabled: bool) -> None:
        """Enable or suspend versioning; a bucket never versioned is left so when off."""
        status = self._s3.get_bucket_versioning(Bucket=bucket).get("Status")
        wanted = "Enabled" if enabled else "Suspended"
        if status != wanted and (enabled or status is not None):
            self._s3.put_bucket_versioning(Bucket=bucket,
                                           VersioningConfiguration={"Status": wanted})

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            self._s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if error_code(exc) in MISSING:
                return False
            raise
        return True

    def _has_objects(self, bucket: str) -> bool:
        """Any object, version or delete marker left (a missing bucket has none)."""
        try:
            listing = self._s3.list_object_versions(Bucket=bucket, MaxKeys=1)
        except ClientError as exc:
            if error_code(exc) in MISSING:
                return False
            raise
        return bool(listing.get("Versions") or listing.get("DeleteMarkers"))

    def _empty(self, bucket: str) -> None:
        """Delete every object version and delete marker, 1000 per request."""
        with missing_ok():
            for page in self._s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                objects = [{"Key": item["Key"], "VersionId": item["VersionId"]}
                           for item in page.get("Versions", []) + page.get("DeleteMarkers", [])]
                if objects:
                    self._s3.delete_objects(Bucket=bucket,
                                            Delete={"Objects": objects, "Quiet": True})

    def _user_exists(self, name: str) -> bool:
        try:
            self._iam.get_user(UserName=name)
        except ClientError as exc:
            if error_code(exc) in MISSING:
                return False
            raise
        return True

    def _ensure_user(self, name: str) -> None:
        try:
            self._iam.create_user(UserName=name, Path=self.iam_path)
        except ClientError as exc:
            if error_code(exc) != "EntityAlreadyExists":
                raise

    def _put_policy(self, name: str, bucket: str) -> None:
        self._iam.put_user_policy(UserName=name, PolicyName=POLICY_NAME,
                                  PolicyDocument=json.dumps(bucket_policy(bucket)))

    def _policy(self, name: str) -> dict[str, Any] | None:
        """The user's inline policy document (botocore decodes it), or None."""
        try:
            return self._iam.get_user_policy(UserName=name,
                                             PolicyName=POLICY_NAME)["PolicyDocument"]
        except ClientError as exc:
            if error_code(exc) in MISSING:
                return None
            raise

    def _keys(self, name: str) -> list[dict[str, Any]]:
        return self._iam.list_access_keys(UserName=name)["AccessKeyMetadata"]

    def _new_key(self, name: str, bucket: str) -> Credentials:
        """Replace all of the user's keys with one new key (IAM allows two per user)."""
        for key in self._keys(name):
            self._iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
        key = self._iam.create_access_key(UserName=name)["AccessKey"]
        key_id, secret = key["AccessKeyId"], key["SecretAccessKey"]
        host, port = self.config.public_host, self.config.public_port
        endpoint = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        uri = f"{self.uri_scheme}://{quote(key_id, safe='')}:{quote(secret, safe='')}@{endpoint}"
        return Credentials(key_id, secret, host=host, port=port, database=bucket,
                           uri=f"{uri}/{bucket}")

    def _tenant_probe(self, credentials: Credentials) -> str | None:
        """None when the tenant's key may list its bucket; else the refusal."""
        client = self._client("s3", credentials.username, credentials.password)
        try:
            client.list_objects_v2(Bucket=credentials.database, MaxKeys=1)
        except ClientError as exc:
            return reason(exc)
        return None
