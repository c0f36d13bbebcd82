"""Backups of an S3 bucket: its objects copied, as a tar stream (one member per object,
named by its key, with its bytes and time), read and written with the resource's own
access key (never the instance's account).

The dump lists the bucket and streams each object into the archive as it is read, so no
object is ever whole in memory or on disk; a tar reader (``tar -t``) lists what a dump
holds. A restore puts each member back under its key, streamed in parts: the objects the
dump holds are replaced, objects made since stay. Only the objects' current versions and
bytes are kept: their content types and user metadata are not.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar, Protocol

from boto3.s3.transfer import TransferConfig
from botocore.client import BaseClient

from providers.adapters.base import Credentials, ProviderError

_BLOCK = tarfile.BLOCKSIZE
_READ_SIZE = 1024 * 1024
#: Where the ustar magic sits in a tar header.
_MAGIC_AT = slice(257, 262)
#: A restored object goes up in parts of 8 MiB, two at a time: bounded memory.
_UPLOADS = TransferConfig(multipart_chunksize=8 * 1024 * 1024, max_concurrency=2)


class _S3Host(Protocol):
    def _client(self, service: str, key_id: str, secret: str) -> BaseClient: ...

    def _errors(self, action: str, *secrets: str) -> AbstractContextManager[None]: ...


class S3Dumps:
    """Mixed into the S3 adapter, whose clients and error handling it uses."""

    dump_format: ClassVar[str] = "s3-tar"
    dump_compressed: ClassVar[bool] = False
    dump_extension: ClassVar[str] = "tar"

    @classmethod
    def is_dump(cls, head: bytes) -> bool:
        """A tar archive: its first header carries the ustar magic."""
        return len(head) >= _BLOCK and head[_MAGIC_AT] == b"ustar"

    def dump(self: _S3Host, credentials: Credentials
             ) -> AbstractContextManager[Iterator[bytes]]:
        client = self._client("s3", credentials.username, credentials.password)
        return _archive(self, client, credentials.database, credentials.password)

    def manifest(self: _S3Host, credentials: Credentials) -> dict[str, int]:
        """How many objects the bucket holds and their bytes (a listing is no snapshot:
        objects written meanwhile may count or not)."""
        client = self._client("s3", credentials.username, credentials.password)
        found = {"objects": 0, "bytes": 0}
        with self._errors(f"listing {credentials.database}", credentials.password):
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=credentials.database)
            for page in pages:
                for listed in page.get("Contents", []):
                    found["objects"] += 1
                    found["bytes"] += listed["Size"]
        return found

    def restore(self: _S3Host, credentials: Credentials, chunks: Iterable[bytes], *,
                owner: str) -> None:
        client = self._client("s3", credentials.username, credentials.password)
        bucket = credentials.database
        try:
            with tarfile.open(fileobj=_ChunkReader(chunks), mode="r|") as archive:
                for member in archive:
                    if not member.isfile():
                        continue
                    with self._errors(f"restoring {member.name!r} into {bucket}",
                                      credentials.password):
                        client.upload_fileobj(_Unseekable(archive.extractfile(member)), bucket,
                                           member.name,
                                           Config=_UPLOADS)
        except tarfile.TarError as exc:
            raise ProviderError(f"the dump is not a readable tar archive: {exc}") from None


@contextmanager
def _archive(host: _S3Host, client: BaseClient, bucket: str, secret: str
             ) -> Iterator[Iterator[bytes]]:
    """The bucket's objects as a tar stream; a failure to list or read raises a
    ``ProviderError`` mid-stream, so that no partial dump is taken for complete."""

    def chunks() -> Iterator[bytes]:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        with host._errors(f"listing {bucket}", secret):
            for page in pages:
                for listed in page.get("Contents", []):
                    yield from _member(client, bucket, listed)
        yield b"\0" * (2 * _BLOCK)  # the end of the archive

    yield chunks()


def _member(client: BaseClient, bucket: str, listed: dict[str, Any]) -> Iterator[bytes]:
    """One object as a tar member: its header, its bytes as read, the padding."""
    answer = client.get_object(Bucket=bucket, Key=listed["Key"])
    body, size = answer["Body"], answer["ContentLength"]
    info = tarfile.TarInfo(listed["Key"])
    info.size, info.mtime = size, int(answer["LastModified"].timestamp())
    yield info.tobuf(format=tarfile.PAX_FORMAT)
    sent = 0
    try:
        while chunk := body.read(_READ_SIZE):
            sent += len(chunk)
            yield chunk
    finally:
        body.close()
    if sent != size:
        raise ProviderError(f"object {listed['Key']!r} changed size while it was read")
    if size % _BLOCK:
        yield b"\0" * (_BLOCK - size % _BLOCK)


class _ChunkReader:
    """A read-only file over an iterable of chunks, as ``tarfile``'s stream mode reads."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            size = len(self._buffer)
        taken = bytes(self._buffer[:size])
        del self._buffer[:size]
        return taken


class _Unseekable:
    """A member read from the archive as it streams by: read forward only, which is what
    the managed upload asks of it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def seekable(self) -> bool:
        return False
