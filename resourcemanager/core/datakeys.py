"""Data keys: each scope has its own random Fernet key, and platform-level secrets
(provider passwords) one of their own (scope ``PLATFORM``). A data key is stored only
wrapped by a key-encryption key of the KMS (``kms``); unwrapped keys are kept in a bounded
in-process cache.

A scope has one *current* key, which encrypts; keys retired by a rotation still decrypt
until a later rotation destroys them. Destroying a scope's keys (``delete_scope``) makes
the copies of its secrets unreadable (crypto-shredding), those in older dumps once the KEK
that wrapped the keys there is gone too.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.fernet import Fernet
from django.conf import settings
from django.db import IntegrityError, models, transaction

from resourcemanager.core import kms

#: The scope of platform-level secrets; no scope name is empty.
PLATFORM = ""
#: Seconds a process keeps using the key it last read as a scope's current one.
CURRENT_SECONDS = 2.0


class DataKey(models.Model):
    """One data key, wrapped by the KEK of the ``kms`` backend named."""

    id = models.CharField(primary_key=True, max_length=16, editable=False)
    #: The scope whose secrets it encrypts; ``PLATFORM`` (empty) for platform secrets.
    scope = models.CharField(max_length=63, blank=True, db_index=True)
    #: True for the key that encrypts; NULL once retired (it still decrypts). NULLs do not
    #: collide in the unique constraint, so each scope has at most one current key.
    current = models.BooleanField(null=True, default=True)
    kms = models.CharField(max_length=16)
    wrapped = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "current"], name="one_current_data_key")
        ]

    def __str__(self) -> str:
        return f"data key {self.id} of {scope_label(self.scope)}"


class UnknownDataKey(Exception):
    """No data key has this id: it was destroyed (its scope deleted) or never existed."""


def scope_label(scope: str) -> str:
    return "the platform" if scope == PLATFORM else f"scope {scope}"


def current_key(scope: str) -> tuple[str, Fernet]:
    """The id and cipher of the scope's current key, made on the scope's first secret.

    Which key is current is read again after ``CURRENT_SECONDS``: an operation encrypts
    several times within that (its request, its run, its outcome), and a key retired
    meanwhile still decrypts (``key_rotation``). Only a key read outside a transaction is
    kept so, never one a rollback could still take back. Making one calls the KMS; a
    KMSError leaves nothing written.
    """
    known = _current.get(scope)
    if known is not None and time.monotonic() - known[1] < CURRENT_SECONDS:
        found = _cache.fresh(known[0])
        if found is not None:
            return known[0], found
    row = DataKey.objects.filter(scope=scope, current=True).first()
    if row is None:
        row = new_key(scope)
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:  # another process made it meanwhile
            row = DataKey.objects.get(scope=scope, current=True)
    found = cipher_of(row)
    if not transaction.get_connection().in_atomic_block:  # a committed row, which stays
        _current[scope] = (row.id, time.monotonic())
    return row.id, found


def forget_current(scopes: list[str] | None = None) -> None:
    """Read the current key of ``scopes`` (None: all) again at their next use: after a
    rotation retired them, or their scope's keys were destroyed."""
    if scopes is None:
        _current.clear()
    for scope in scopes or ():
        _current.pop(scope, None)


def cipher(key_id: str) -> Fernet:
    """The cipher of the data key ``key_id``. Raises UnknownDataKey, or KMSError when the
    key must be unwrapped and the KMS cannot."""
    cached = _cache.fresh(key_id)
    if cached is not None:
        return cached
    row = DataKey.objects.filter(pk=key_id).first()
    if row is None:
        _cache.forget([key_id])
        raise UnknownDataKey(key_id)
    return cipher_of(row)


def cipher_of(row: DataKey) -> Fernet:
    """The row's key, unwrapped by the KMS unless the cache holds it as wrapped so."""
    known = _cache.holding(row.id, row.wrapped)
    if known is not None:
        return known
    found = Fernet(kms.backend(row.kms).unwrap(row.wrapped))
    _cache.put(row.id, row.wrapped, found)
    return found


def new_key(scope: str) -> DataKey:
    """A fresh, unsaved current key for ``scope``, wrapped by the current KMS (a call to
    it: make keys before opening a transaction where that can be done)."""
    key = Fernet.generate_key()
    kek = kms.current()
    row = DataKey(id=secrets.token_hex(6), scope=scope, current=True, kms=kek.name,
                  wrapped=kek.wrap(key))
    _cache.put(row.id, row.wrapped, Fernet(key))
    return row


def destroy(keys: models.QuerySet[DataKey]) -> int:
    """Delete the keys and drop them from this process's cache; their values can no longer
    be read, here or in any copy of the database. Other processes forget them within
    ``RM_KMS_CACHE_SECONDS``."""
    ids = list(keys.values_list("pk", flat=True))
    DataKey.objects.filter(pk__in=ids).delete()
    transaction.on_commit(lambda: _forget_keys(ids))
    _forget_keys(ids)
    return len(ids)


def _forget_keys(ids: list[str]) -> None:
    _cache.forget(ids)
    for scope, (key_id, _) in list(_current.items()):
        if key_id in ids:
            _current.pop(scope, None)


@dataclass
class _Entry:
    wrapped: str
    cipher: Fernet
    checked: float


class _Cache:
    """Unwrapped keys by id, least recently used first out (``RM_KMS_CACHE_SIZE``). An
    entry older than ``RM_KMS_CACHE_SECONDS`` is checked against its row before use, so
    a destroyed key stops decrypting in every process."""

    def __init__(self) -> None:
        self.entries: OrderedDict[str, _Entry] = OrderedDict()
        self.lock = threading.Lock()

    def fresh(self, key_id: str) -> Fernet | None:
        with self.lock:
            entry = self.entries.get(key_id)
            if entry is None or time.monotonic() - entry.checked > settings.RM_KMS_CACHE_SECONDS:
                return None
            self.entries.move_to_end(key_id)
            return entry.cipher

    def holding(self, key_id: str, wrapped: str) -> Fernet | None:
        with self.lock:
            entry = self.entries.get(key_id)
            if entry is None or entry.wrapped != wrapped:
                return None
            entry.checked = time.monotonic()
            self.entries.move_to_end(key_id)
            return entry.cipher

    def put(self, key_id: str, wrapped: str, found: Fernet) -> None:
        with self.lock:
            self.entries[key_id] = _Entry(wrapped, found, time.monotonic())
            self.entries.move_to_end(key_id)
            while len(self.entries) > max(settings.RM_KMS_CACHE_SIZE, 1):
                self.entries.popitem(last=False)

    def forget(self, key_ids: list[str]) -> None:
        with self.lock:
            for key_id in key_ids:
                self.entries.pop(key_id, None)


_cache = _Cache()
#: The current key's id by scope, and when it was read (``time.monotonic``).
_current: dict[str, tuple[str, float]] = {}
