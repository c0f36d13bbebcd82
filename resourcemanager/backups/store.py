"""The backup store: one S3 bucket the operator configures (``RM_BACKUP_STORE_URL``).

``s3://KEYID:SECRET@host:port/bucket/optional/prefix?secure=false&region=us-east-1``;
empty: backups are not configured. Objects are written by multipart upload as the sealed
dump streams (a few parts in memory at most, nothing on disk) and read back as a stream.
botocore errors become ``StoreError`` messages that never carry the store's secret.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

#: S3 refuses parts under 5 MiB (but the last).
MIN_PART_SIZE = 5 * 1024 * 1024
#: Parts uploading at once while the next one fills.
_PARTS_IN_FLIGHT = 2
_READ_SIZE = 1024 * 1024
#: Refusals of a store that is busy or restarting: tried again later.
_TRANSIENT_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError",
                              "RequestTimeout"})


class StoreError(Exception):
    """The backup store refused or could not be reached; the message holds no secret.
    ``transient``: worth trying again later (unreachable, overloaded), as a backend's."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class StoreNotConfigured(StoreError):
    """``RM_BACKUP_STORE_URL`` is empty."""


@dataclass(frozen=True)
class Stored:
    """What an upload stored: its size and the SHA-256 of its bytes."""

    size: int
    sha256: str


@dataclass(frozen=True)
class StoreConfig:
    endpoint: str
    bucket: str
    prefix: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"

    @classmethod
    def from_url(cls, url: str) -> StoreConfig:
        """Parse ``RM_BACKUP_STORE_URL``; the message of a bad one never repeats it."""
        parts = urlsplit(url)
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        bucket, _, prefix = parts.path.lstrip("/").partition("/")
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme != "s3" or not parts.hostname or not bucket or not parts.username:
            raise StoreNotConfigured(
                "RM_BACKUP_STORE_URL must read s3://KEYID:SECRET@host[:port]/bucket[/prefix]")
        scheme = "http" if query.get("secure", "true").lower() == "false" else "https"
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return cls(
            endpoint=f"{scheme}://{host}" + (f":{port}" if port else ""),
            bucket=bucket, prefix=prefix.strip("/") + "/" if prefix.strip("/") else "",
            access_key=unquote(parts.username), secret_key=unquote(parts.password or ""),
            region=query.get("region", "us-east-1"))


def configured() -> bool:
    return bool(settings.RM_BACKUP_STORE_URL)


def object_key(name: str) -> str:
    """Where the object ``name`` goes in the configured store (under its prefix)."""
    if not configured():
        raise StoreNotConfigured("backups are not configured on this server")
    return StoreConfig.from_url(settings.RM_BACKUP_STORE_URL).prefix + name


def backup_store() -> BackupStore:
    """The configured store; raises ``StoreNotConfigured`` without one."""
    if not configured():
        raise StoreNotConfigured("backups are not configured on this server "
                                 "(RM_BACKUP_STORE_URL is empty)")
    return BackupStore(StoreConfig.from_url(settings.RM_BACKUP_STORE_URL),
                       part_size=settings.RM_BACKUP_PART_SIZE)


class BackupStore:
    def __init__(self, config: StoreConfig, *, part_size: int = MIN_PART_SIZE) -> None:
        self.config = config
        self.part_size = part_size
        timeout = settings.RM_PROVIDER_READ_TIMEOUT
        self._client: BaseClient = boto3.session.Session(
            aws_access_key_id=config.access_key, aws_secret_access_key=config.secret_key,
            region_name=config.region,
        ).client("s3", endpoint_url=config.endpoint, config=Config(
            connect_timeout=settings.RM_PROVIDER_CONNECT_TIMEOUT, read_timeout=timeout,
            retries={"mode": "standard", "total_max_attempts": 3},
            s3={"addressing_style": "path"}, max_pool_connections=_PARTS_IN_FLIGHT + 2))

    def upload(self, key: str, chunks: Iterable[bytes]) -> Stored:
        """Store ``chunks`` under ``key`` by multipart upload, parts uploading while the
        next fills. Anything raised meanwhile (by ``chunks`` too) aborts the upload: no
        object, no parts are left."""
        digest, size = hashlib.sha256(), 0
        with self._errors("starting an upload"):
            upload_id = self._client.create_multipart_upload(
                Bucket=self.config.bucket, Key=key)["UploadId"]
        try:
            with ThreadPoolExecutor(_PARTS_IN_FLIGHT, thread_name_prefix="backup-part") as pool:
                uploaded: list[Future] = []
                for number, part in enumerate(_parts(chunks, self.part_size), start=1):
                    digest.update(part)
                    size += len(part)
                    uploaded.append(pool.submit(self._put_part, key, upload_id, number, part))
                    del part
                    if len(uploaded) >= _PARTS_IN_FLIGHT:  # wait for room: bounded memory
                        uploaded[-_PARTS_IN_FLIGHT].result()
                parts = [future.result() for future in uploaded]
            with self._errors("completing an upload"):
                self._client.complete_multipart_upload(
                    Bucket=self.config.bucket, Key=key, UploadId=upload_id,
                    MultipartUpload={"Parts": parts})
        except BaseException:
            self._abort(key, upload_id)
            raise
        return Stored(size, digest.hexdigest())

    def read(self, key: str) -> Iterator[bytes]:
        """The object's bytes, streamed."""
        with self._errors("reading a backup"):
            body = self._client.get_object(Bucket=self.config.bucket, Key=key)["Body"]
        try:
            while chunk := self._read(body):
                yield chunk
        finally:
            body.close()

    def checksum(self, key: str) -> str:
        """The SHA-256 of the object's bytes, read through once."""
        digest = hashlib.sha256()
        for chunk in self.read(key):
            digest.update(chunk)
        return digest.hexdigest()

    def delete(self, key: str) -> None:
        """Remove the object and any unfinished upload to its key; missing is fine."""
        with self._errors("removing a backup"):
            self._client.delete_object(Bucket=self.config.bucket, Key=key)
            listed = self._client.list_multipart_uploads(Bucket=self.config.bucket, Prefix=key)
            for upload in listed.get("Uploads", []):
                if upload["Key"] == key:
                    self._abort(key, upload["UploadId"])

    def _put_part(self, key: str, upload_id: str, number: int, part: bytes) -> dict:
        with self._errors("uploading a part"):
            answer = self._client.upload_part(Bucket=self.config.bucket, Key=key,
                                              UploadId=upload_id, PartNumber=number, Body=part)
        return {"PartNumber": number, "ETag": answer["ETag"]}

    def _read(self, body) -> bytes:
        with self._errors("reading a backup"):
            return body.read(_READ_SIZE)

    def _abort(self, key: str, upload_id: str) -> None:
        # Should this fail, the bucket's lifecycle rule for unfinished uploads is the backstop.
        with suppress(BotoCoreError, ClientError):
            self._client.abort_multipart_upload(Bucket=self.config.bucket, Key=key,
                                                UploadId=upload_id)

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """botocore errors become ``StoreError`` messages without the store's secret."""
        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "error")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            raise StoreError(f"the backup store refused {action}: {code}",
                             transient=status >= 500 or code in _TRANSIENT_CODES) from None
        except BotoCoreError as exc:
            raise StoreError(f"the backup store could not be reached ({action}): "
                             f"{type(exc).__name__}", transient=True) from None


def _parts(chunks: Iterable[bytes], size: int) -> Iterator[bytearray]:
    """The stream in parts of at least ``size`` bytes (the last may be shorter), each
    filled in place: a part is in memory once."""
    buffer, first = bytearray(), True
    for chunk in chunks:
        buffer += chunk
        if len(buffer) >= size:
            yield buffer
            buffer, first = bytearray(), False
    if buffer or first:  # an empty stream is one empty part
        yield buffer
