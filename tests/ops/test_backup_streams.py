"""The two halves of a backup's stream: sealing (compression, then AES-GCM frames) and
the S3 backup store's multipart upload, on the moto server."""

from __future__ import annotations

import os
import struct

import pytest
from django.conf import settings

from resourcemanager.backups import sealing
from resourcemanager.backups.sealing import SealError, new_data_key, seal, unseal
from resourcemanager.backups.store import MIN_PART_SIZE, StoreConfig, backup_store
from tests.support.backup_store import backup_bucket  # noqa: F401 (fixture bucket)

KEY = new_data_key()


def sealed(data: bytes, *, compress: bool = False, piece: int = 70_000) -> bytes:
    return b"".join(seal([data[i:i + piece] for i in range(0, len(data), piece)], KEY,
                         compress=compress))


def frames(blob: bytes) -> tuple[bytes, list[bytes]]:
    """The header and the frames (length prefix included) of a sealed stream."""
    header, rest, found = blob[:13], blob[13:], []
    while rest:
        (size,) = struct.unpack(">I", rest[:4])
        found.append(rest[:4 + size])
        rest = rest[4 + size:]
    return header, found


@pytest.mark.parametrize("compress", [False, True])
def test_a_sealed_stream_opens_to_what_went_in(compress):
    data = os.urandom(sealing.CHUNK * 2 + 12_345) + b"row text " * 100_000

    blob = sealed(data, compress=compress)

    assert b"row text" not in blob
    assert b"".join(unseal([blob[i:i + 999] for i in range(0, len(blob), 999)], KEY,
                           compressed=compress)) == data


def test_an_empty_dump_seals_and_opens():
    assert b"".join(unseal([sealed(b"")], KEY, compressed=False)) == b""


@pytest.mark.parametrize("damage", ["flipped", "truncated", "reordered", "dropped",
                                    "appended", "other key", "not sealed"])
def test_a_damaged_stream_does_not_open(damage):
    blob = sealed(os.urandom(sealing.CHUNK * 3))
    header, parts = frames(blob)
    key = KEY
    if damage == "flipped":
        blob = blob[:500] + bytes([blob[500] ^ 1]) + blob[501:]
    elif damage == "truncated":
        blob = header + b"".join(parts[:-1])  # every data frame, not the final one
    elif damage == "reordered":
        blob = header + b"".join([parts[1], parts[0], *parts[2:]])
    elif damage == "dropped":
        blob = header + b"".join(parts[1:])
    elif damage == "appended":
        blob += parts[0]
    elif damage == "other key":
        key = new_data_key()
    else:
        blob = b"PGDMP" + blob

    with pytest.raises(SealError):
        b"".join(unseal([blob], key, compressed=False))


def test_the_store_url_is_read_without_repeating_its_secret():
    config = StoreConfig.from_url("s3://AKID:se%2Fcret@minio.example:9000/backups/a/b/"
                                  "?secure=false&region=eu-west-1")

    assert (config.endpoint, config.bucket, config.prefix, config.access_key,
            config.secret_key, config.region) == (
        "http://minio.example:9000", "backups", "a/b/", "AKID", "se/cret", "eu-west-1")
    assert "se/cret" not in repr(config)


def test_an_upload_in_several_parts_is_stored_whole(bucket, settings):
    settings.RM_BACKUP_PART_SIZE = MIN_PART_SIZE
    data = os.urandom(MIN_PART_SIZE * 2 + 1000)
    store = backup_store()

    stored = store.upload("tenants/whole", (data[i:i + 65536]
                                            for i in range(0, len(data), 65536)))

    assert stored.size == len(data)
    assert bucket.read("tenants/whole") == data
    assert b"".join(store.read("tenants/whole")) == data


def test_an_upload_whose_stream_fails_leaves_nothing(bucket):
    def failing():
        yield os.urandom(settings.RM_BACKUP_PART_SIZE + 10)
        raise RuntimeError("the dump broke off")

    with pytest.raises(RuntimeError):
        backup_store().upload("tenants/broken", failing())

    assert bucket.keys() == [] and bucket.unfinished_uploads() == []
