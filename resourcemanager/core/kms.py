"""Key-encryption keys (KEKs) held by a key management service: they wrap and unwrap the
data keys of ``datakeys``; they never see a secret.

``RM_KMS`` picks the backend that wraps new data keys: ``local`` (the Fernet keys of
``RM_ENCRYPTION_KEYS``; the first wraps, all unwrap), ``aws`` (AWS KMS, ``Encrypt`` and
``Decrypt`` with ``RM_KMS_AWS_KEY_ID``) or ``vault`` (a Vault transit engine:
``encrypt``, ``decrypt`` and ``rewrap`` with ``RM_KMS_VAULT_KEY``). A data key is unwrapped
by the backend that wrapped it, whatever ``RM_KMS`` says now, so moving to another
backend is a ``rotate_kek`` away.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Protocol

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from resourcemanager.core.errors import ServiceError

BACKENDS = ("local", "aws", "vault")


class KMSError(ServiceError):
    """The KMS could not be reached or refused: nothing that needed it was written."""

    status = 503
    code = "kms_unavailable"


class KEK(Protocol):
    name: str

    def wrap(self, key: bytes) -> str:
        """``key`` encrypted under the current KEK."""

    def unwrap(self, wrapped: str) -> bytes:
        """The key ``wrap`` (under this or an earlier KEK) encrypted."""

    def rewrap(self, wrapped: str) -> str:
        """``wrapped`` under the current KEK."""


class LocalKEK:
    """The Fernet keys of ``RM_ENCRYPTION_KEYS``: the first wraps, every one unwraps."""

    name = "local"

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.cipher = MultiFernet([Fernet(key.encode()) for key in keys])

    def wrap(self, key: bytes) -> str:
        return self.cipher.encrypt(key).decode()

    def unwrap(self, wrapped: str) -> bytes:
        try:
            return self.cipher.decrypt(wrapped.encode())
        except InvalidToken:
            raise KMSError(
                "KMS local refused: the data key was not wrapped by any key of "
                "RM_ENCRYPTION_KEYS") from None

    def rewrap(self, wrapped: str) -> str:
        return self.wrap(self.unwrap(wrapped))


class AwsKEK:
    """AWS KMS: the data key is the plaintext of ``Encrypt``; ``Decrypt`` finds the KMS key
    from the ciphertext itself, so keys wrapped under an earlier key id still unwrap."""

    name = "aws"

    def __init__(self, key_id: str, region: str, endpoint: str, timeout: float) -> None:
        if not key_id:
            raise KMSError("KMS aws is not configured: set RM_KMS_AWS_KEY_ID")
        self.key_id = key_id
        self.client = boto3.session.Session().client(
            "kms", region_name=region or None, endpoint_url=endpoint or None,
            config=Config(connect_timeout=timeout, read_timeout=timeout,
                          retries={"max_attempts": 2, "mode": "standard"}),
        )

    def wrap(self, key: bytes) -> str:
        with self._failures():
            blob = self.client.encrypt(KeyId=self.key_id, Plaintext=key)["CiphertextBlob"]
        return base64.b64encode(blob).decode()

    def unwrap(self, wrapped: str) -> bytes:
        try:
            blob = base64.b64decode(wrapped, validate=True)
        except binascii.Error:
            raise KMSError("KMS aws refused: the wrapped data key is not base64") from None
        with self._failures():
            return self.client.decrypt(CiphertextBlob=blob)["Plaintext"]

    def rewrap(self, wrapped: str) -> str:
        return self.wrap(self.unwrap(wrapped))

    @staticmethod
    @contextmanager
    def _failures() -> Iterator[None]:
        """botocore's exceptions as KMSError, naming the refusal's code, never a value."""
        try:
            yield
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise KMSError(f"KMS aws refused: {error.get('Code', 'error')}: "
                           f"{error.get('Message', '')}".rstrip(": ")) from None
        except BotoCoreError as exc:
            raise KMSError(f"KMS aws unreachable: {exc}") from None


class VaultKEK:
    """A Vault transit engine (``/v1/<mount>/{encrypt,decrypt,rewrap}/<key>``)."""

    name = "vault"

    def __init__(self, url: str, token: str, mount: str, key: str, timeout: float) -> None:
        if not url:
            raise KMSError("KMS vault is not configured: set RM_KMS_VAULT_URL")
        self.base = f"{url.rstrip('/')}/v1/{mount.strip('/')}"
        self.key, self.timeout = key, timeout
        self.headers = {"X-Vault-Token": token}

    def wrap(self, key: bytes) -> str:
        return self._call("encrypt", plaintext=base64.b64encode(key).decode())["ciphertext"]

    def unwrap(self, wrapped: str) -> bytes:
        return base64.b64decode(self._call("decrypt", ciphertext=wrapped)["plaintext"])

    def rewrap(self, wrapped: str) -> str:
        return self._call("rewrap", ciphertext=wrapped)["ciphertext"]

    def _call(self, verb: str, **body: str) -> dict:
        try:
            response = requests.post(f"{self.base}/{verb}/{self.key}", json=body,
                                     headers=self.headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise KMSError(f"KMS vault unreachable: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise KMSError(f"KMS vault refused: HTTP {response.status_code}: "
                           f"{'; '.join(_vault_errors(response))}".rstrip(": "))
        try:
            return response.json()["data"]
        except (ValueError, KeyError, TypeError):
            raise KMSError("KMS vault refused: an answer without data") from None


def _vault_errors(response: requests.Response) -> list[str]:
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return []
    return [str(error)[:200] for error in errors]


def current() -> KEK:
    """The backend that wraps new data keys (``RM_KMS``)."""
    return backend(settings.RM_KMS)


def backend(name: str) -> KEK:
    """The backend called ``name``, configured from the settings."""
    if name == "local":
        return _local(tuple(settings.RM_ENCRYPTION_KEYS))
    if name == "aws":
        return _aws(settings.RM_KMS_AWS_KEY_ID, settings.RM_KMS_AWS_REGION,
                    settings.RM_KMS_AWS_ENDPOINT_URL, settings.RM_KMS_TIMEOUT)
    if name == "vault":
        return VaultKEK(settings.RM_KMS_VAULT_URL, settings.RM_KMS_VAULT_TOKEN,
                        settings.RM_KMS_VAULT_MOUNT, settings.RM_KMS_VAULT_KEY,
                        settings.RM_KMS_TIMEOUT)
    raise KMSError(f"KMS {name} is unknown: RM_KMS is one of {', '.join(BACKENDS)}")


@cache
def _local(keys: tuple[str, ...]) -> LocalKEK:
    return LocalKEK(keys)


@cache
def _aws(key_id: str, region: str, endpoint: str, timeout: float) -> AwsKEK:
    """One client per configuration: making one reads the credential chain."""
    return AwsKEK(key_id, region, endpoint, timeout)
