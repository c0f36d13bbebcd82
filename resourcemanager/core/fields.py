"""Model fields whose values are encrypted in the database column."""

from typing import Any

from django.db import models

from resourcemanager.core import crypto


class EncryptedField(models.TextField):
    """A column holding Fernet tokens. Every subclass is found and re-encrypted by
    ``rotate_encryption_keys`` (``key_rotation.encrypted_columns``); empty values (NULL,
    the empty string) are stored as they are."""


class EncryptedTextField(EncryptedField):
    """A string stored as a Fernet token. Empty strings are stored as empty strings."""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return crypto.encrypt(value) if value else value

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return crypto.decrypt(value) if value else value

    def value_to_string(self, obj: models.Model) -> str:
        return ""  # never serialized in the clear (dumpdata)


class EncryptedJSONField(EncryptedField):
    """A JSON document stored as one Fernet token; ``None`` stays NULL."""

    def get_prep_value(self, value: Any) -> Any:
        return None if value is None else crypto.encrypt_json(value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return None if value is None else crypto.decrypt_json(value)

    def to_python(self, value: Any) -> Any:
        return value

    def value_to_string(self, obj: models.Model) -> str:
        return ""  # never serialized in the clear (dumpdata, admin history)
