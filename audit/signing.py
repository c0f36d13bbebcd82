"""Ed25519 signatures of checkpoints, with a key kept apart from the database.

``RM_AUDIT_SIGNING_KEY`` holds the private key (PEM, or the base64 of its 32 raw bytes);
``RM_AUDIT_VERIFY_KEY`` holds public keys (PEM or base64 raw; several, comma-separated,
for checkpoints signed by earlier keys). Verification needs only the public keys: those
listed, and the one of the signing key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Raw = serialization.Encoding.Raw


def new_private_key() -> str:
    """A fresh signing key, as ``RM_AUDIT_SIGNING_KEY`` takes it (base64 raw)."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return base64.b64encode(raw).decode()


def public_key_text(private_text: str) -> str:
    """The public key of ``private_text``, as ``RM_AUDIT_VERIFY_KEY`` takes it."""
    public = _private(private_text).public_key()
    return base64.b64encode(public.public_bytes(Raw, serialization.PublicFormat.Raw)).decode()


def signing_key() -> Ed25519PrivateKey | None:
    text = settings.RM_AUDIT_SIGNING_KEY
    return _private(text) if text else None


def verify_keys() -> dict[str, Ed25519PublicKey]:
    """The public keys checkpoints may be signed with, by key id."""
    keys = [_public(text) for text in settings.RM_AUDIT_VERIFY_KEY if text.strip()]
    private = signing_key()
    if private is not None:
        keys.append(private.public_key())
    return {key_id(key): key for key in keys}


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def message(document: dict[str, Any]) -> bytes:
    """What is signed: ``document`` as canonical JSON (sorted keys, no spaces, UTF-8)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def sign(document: dict[str, Any]) -> tuple[str, str]:
    """(signature in base64, key id), or ("", "") without a signing key."""
    private = signing_key()
    if private is None:
        return "", ""
    signature = private.sign(message(document))
    return base64.b64encode(signature).decode(), key_id(private.public_key())


def verifies(key: Ed25519PublicKey, document: dict[str, Any], signature: str) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), message(document))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def _private(text: str) -> Ed25519PrivateKey:
    try:
        if text.lstrip().startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(
            "RM_AUDIT_SIGNING_KEY must be an Ed25519 private key: PEM, or the base64 of its "
            "32 raw bytes")
    return key


def _public(text: str) -> Ed25519PublicKey:
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise ImproperlyConfigured(
            "RM_AUDIT_VERIFY_KEY must hold Ed25519 public keys: PEM, or the base64 of their "
            "32 raw bytes, comma-separated")
    return key
