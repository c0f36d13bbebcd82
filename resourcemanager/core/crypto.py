"""Authenticated encryption at rest (Fernet: AES-128-CBC + HMAC-SHA256) under per-scope
data keys (``datakeys``).

A token names its data key: ``rm1:<data key id>:<Fernet token>``, so reading one needs
no scope. Tokens written before data keys existed are bare Fernet tokens under
``RM_ENCRYPTION_KEYS``; they still decrypt, and ``rotate_encryption_keys`` moves them
under their scope's key.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from resourcemanager.core import datakeys

PREFIX = "rm1"


class DecryptionError(Exception):
    """A stored value cannot be decrypted: its data key is gone, or the token is not one
    its key made."""


def encrypt(scope: str, plaintext: str) -> str:
    """``plaintext`` under the current data key of ``scope`` (``datakeys.PLATFORM``: the
    platform's)."""
    key_id, cipher = datakeys.current_key(scope)
    return f"{PREFIX}:{key_id}:{cipher.encrypt(plaintext.encode()).decode()}"


def decrypt(token: str) -> str:
    key_id, body = _split(token)
    if key_id is None:
        return _legacy_decrypt(body)
    try:
        cipher = datakeys.cipher(key_id)
    except datakeys.UnknownDataKey:
        raise DecryptionError(
            f"stored secret is under data key {key_id}, which no longer exists (destroyed "
            "with its scope?)") from None
    try:
        return cipher.decrypt(body.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            f"stored secret cannot be decrypted with its data key {key_id}") from None


def encrypt_json(scope: str, value: Any) -> str:
    return encrypt(scope, json.dumps(value, separators=(",", ":")))


def decrypt_json(token: str) -> Any:
    return json.loads(decrypt(token))


def key_id(token: str) -> str | None:
    """The id of the data key ``token`` is under; None for a token under
    ``RM_ENCRYPTION_KEYS`` (written before data keys)."""
    return _split(token)[0]


def _split(token: str) -> tuple[str | None, str]:
    prefix, _, rest = token.partition(":")
    if prefix != PREFIX:
        return None, token
    found, _, body = rest.partition(":")
    return found, body


@cache
def _legacy(keys: tuple[str, ...]) -> MultiFernet:
    """Keys were validated when settings loaded."""
    if not keys:
        raise ImproperlyConfigured("RM_ENCRYPTION_KEYS holds no key")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _legacy_decrypt(token: str) -> str:
    try:
        return _legacy(tuple(settings.RM_ENCRYPTION_KEYS)).decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "stored secret cannot be decrypted with RM_ENCRYPTION_KEYS") from None
