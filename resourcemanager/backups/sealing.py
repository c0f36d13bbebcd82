"""Sealing a dump as it streams: compressed (unless it comes compressed), then encrypted
in chunks with AES-256-GCM under a data key of its own.

The sealed stream is a header (``MAGIC``, then a random 4-byte nonce prefix) followed by
frames, each a 4-byte big-endian length and an AES-GCM ciphertext of at most ``CHUNK``
bytes of compressed dump. Frame ``n`` is encrypted with the nonce ``prefix + n`` (8 bytes,
big-endian) and the header plus a final-frame flag as associated data; the last frame is
an empty one flagged final. So a frame changed, dropped, reordered or a stream cut short
fails to open: nothing of a damaged backup reaches a server unnoticed.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"RMBACKUP1"
#: Plaintext bytes per frame.
CHUNK = 1024 * 1024
_PREFIX = 4
_LENGTH = struct.Struct(">I")
_TAG = 16
_LAST, _MORE = b"\x01", b"\x00"


class SealError(Exception):
    """A sealed stream does not open: damaged, cut short, or not sealed with this key."""


def new_data_key() -> bytes:
    """A fresh AES-256 key for one backup."""
    return AESGCM.generate_key(bit_length=256)


def seal(chunks: Iterable[bytes], key: bytes, *, compress: bool) -> Iterator[bytes]:
    """The sealed form of the stream ``chunks``, frame by frame (bounded memory)."""
    cipher = AESGCM(key)
    header = MAGIC + os.urandom(_PREFIX)
    yield header
    counter = 0

    def frame(plain: bytes, flag: bytes) -> bytes:
        nonce = header[-_PREFIX:] + counter.to_bytes(8, "big")
        sealed = cipher.encrypt(nonce, plain, header + flag)
        return _LENGTH.pack(len(sealed)) + sealed

    for plain in _rechunked(_compressed(chunks) if compress else chunks):
        yield frame(plain, _MORE)
        counter += 1
    yield frame(b"", _LAST)


def unseal(chunks: Iterable[bytes], key: bytes, *, compressed: bool) -> Iterator[bytes]:
    """The dump sealed in ``chunks``; raises ``SealError`` at the first frame that does not
    open, or at the end of a stream that stops before its final frame."""
    plain = _opened(chunks, key)
    if not compressed:
        yield from plain
        return
    inflater = zlib.decompressobj()
    try:
        for piece in plain:
            if out := inflater.decompress(piece):
                yield out
        if tail := inflater.flush():
            yield tail
    except zlib.error:
        raise SealError("the backup's content is damaged") from None
    if not inflater.eof:
        raise SealError("the backup's content is cut short")


def _opened(chunks: Iterable[bytes], key: bytes) -> Iterator[bytes]:
    cipher = AESGCM(key)
    reader = _Reader(chunks)
    header = reader.take(len(MAGIC) + _PREFIX)
    if header is None or not header.startswith(MAGIC):
        raise SealError("this is not a backup made by this service")
    counter = 0
    while True:
        length = reader.take(_LENGTH.size)
        if length is None:
            raise SealError("the backup is cut short")
        (size,) = _LENGTH.unpack(length)
        sealed = reader.take(size) if _TAG <= size <= CHUNK + _TAG else None
        if sealed is None:
            raise SealError("the backup is damaged or cut short")
        nonce = header[-_PREFIX:] + counter.to_bytes(8, "big")
        for flag in (_MORE, _LAST):
            try:
                plain = cipher.decrypt(nonce, sealed, header + flag)
            except InvalidTag:
                continue
            break
        else:
            raise SealError("the backup does not decrypt with its key: it is damaged")
        if flag == _LAST:
            if reader.take(1) is not None:
                raise SealError("the backup has data past its end")
            return
        counter += 1
        yield plain


def _compressed(chunks: Iterable[bytes]) -> Iterator[bytes]:
    deflater = zlib.compressobj(level=3)
    for chunk in chunks:
        if out := deflater.compress(chunk):
            yield out
    yield deflater.flush()


def _rechunked(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The stream in pieces of exactly ``CHUNK`` bytes (the last one shorter)."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= CHUNK:
            yield bytes(buffer[:CHUNK])
            del buffer[:CHUNK]
    if buffer:
        yield bytes(buffer)


class _Reader:
    """Exact-size reads from a stream of chunks of any size."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()

    def take(self, size: int) -> bytes | None:
        """The next ``size`` bytes; None when the stream ends first (at its very end too)."""
        while len(self._buffer) < size:
            chunk = next(self._chunks, None)
            if chunk is None:
                return None
            self._buffer += chunk
        taken = bytes(self._buffer[:size])
        del self._buffer[:size]
        return taken
