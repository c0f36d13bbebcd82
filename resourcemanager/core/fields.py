"""Model fields whose values are encrypted in the database column, each under the data key
of its row's scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models

from resourcemanager.core import crypto
from resourcemanager.core.datakeys import PLATFORM


@dataclass(frozen=True)
class Sealed:
    """A value with the scope whose data key encrypts it. ``save()`` and ``bulk_create()``
    make one from the row (``pre_save``); ``QuerySet.update()`` and ``bulk_update()`` do not
    see the row, so they must be given one: ``update(secret=Sealed(scope, value))``."""

    scope: str
    value: Any


class UnsealedWrite(TypeError):
    """An encrypted field of a scoped model was written without its row's scope."""


class EncryptedField(models.TextField):
    """A column holding tokens of ``crypto``. Every subclass is found and re-encrypted by
    the rotation commands (``key_rotation.encrypted_columns``); empty values (NULL, the
    empty string) are stored as they are.

    ``scope_field`` names the model field giving the row's scope; None: the value is a
    platform secret, under the platform's data key.
    """

    def __init__(self, *args: Any, scope_field: str | None = "scope", **kwargs: Any) -> None:
        self.scope_field = scope_field
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, list, dict]:
        name, path, args, kwargs = super().deconstruct()
        if self.scope_field != "scope":
            kwargs["scope_field"] = self.scope_field
        return name, path, args, kwargs

    def scope_of(self, instance: models.Model) -> str:
        return getattr(instance, self.scope_field) if self.scope_field else PLATFORM

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        """The value with its row's scope; an expression (a stored token copied as it is)
        goes through untouched."""
        value = super().pre_save(model_instance, add)
        if hasattr(value, "resolve_expression"):
            return value
        return Sealed(self.scope_of(model_instance), value)

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, Sealed):
            scope, value = value.scope, value.value
        elif self.is_empty(value):
            return value
        elif self.scope_field is None:
            scope = PLATFORM
        else:
            raise UnsealedWrite(
                f"{self.model._meta.label}.{self.name} written without its row's scope: save "
                "the instance, or pass Sealed(scope, value) to update()")
        return value if self.is_empty(value) else self.encrypt(scope, value)

    def is_empty(self, value: Any) -> bool:
        raise NotImplementedError

    def encrypt(self, scope: str, value: Any) -> str:
        raise NotImplementedError

    def value_to_string(self, obj: models.Model) -> str:
        return ""  # never serialized in the clear (dumpdata, admin history)


class EncryptedTextField(EncryptedField):
    """A string stored as a token. Empty strings are stored as empty strings."""

    def is_empty(self, value: Any) -> bool:
        return not value

    def encrypt(self, scope: str, value: Any) -> str:
        return crypto.encrypt(scope, str(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return crypto.decrypt(value) if value else value


class EncryptedJSONField(EncryptedField):
    """A JSON document stored as one token; ``None`` stays NULL."""

    def is_empty(self, value: Any) -> bool:
        return value is None

    def encrypt(self, scope: str, value: Any) -> str:
        return crypto.encrypt_json(scope, value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return None if value is None else crypto.decrypt_json(value)

    def to_python(self, value: Any) -> Any:
        return value
