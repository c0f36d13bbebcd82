"""Authenticated encryption at rest (Fernet: AES-128-CBC + HMAC-SHA256).

``RM_ENCRYPTION_KEYS`` is a comma-separated list: the first key encrypts, every key
decrypts, so keys rotate by prepending a new one and running ``rotate_encryption_keys``.
"""

import json
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    """A stored value cannot be decrypted with any configured key."""


@cache
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    """Keys were validated when settings loaded."""
    if not keys:
        raise ImproperlyConfigured("RM_ENCRYPTION_KEYS holds no key")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def cipher() -> MultiFernet:
    return _cipher(tuple(settings.RM_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return cipher().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return cipher().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("stored secret cannot be decrypted with RM_ENCRYPTION_KEYS") from None


def encrypt_json(value: Any) -> str:
    return encrypt(json.dumps(value, separators=(",", ":")))


def decrypt_json(token: str) -> Any:
    return json.loads(decrypt(token))


def is_current(token: str) -> bool:
    """Whether ``token`` decrypts with the first (newest) key alone."""
    try:
        Fernet(settings.RM_ENCRYPTION_KEYS[0].encode()).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate(token: str) -> str:
    """Re-encrypt a token with the first (current) key."""
    try:
        return cipher().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("stored secret cannot be decrypted with RM_ENCRYPTION_KEYS") from None
