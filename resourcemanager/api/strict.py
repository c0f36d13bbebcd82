"""Strict request bodies: the base of every serializer that parses one.

DRF lets unknown keys through silently (a misspelt ``propertes`` is simply ignored) and
coerces types (``"name": 123`` becomes ``"123"``, ``"yes"`` becomes ``true``). A request
serializer built on ``StrictInput`` refuses both with a 400 naming each field: a key it
does not take, and a value whose JSON type is not the field's (a string for text, true or
false for a flag, a whole number for an integer, an array, an object). Null is left to the
field's own ``allow_null``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

_EXPECTED: list[tuple[type[serializers.Field], str, tuple[type, ...]]] = [
    (serializers.BooleanField, "must be true or false", (bool,)),
    (serializers.CharField, "must be a string", (str,)),
    (serializers.ChoiceField, "must be a string", (str,)),
    (serializers.IntegerField, "must be an integer", (int,)),
    (serializers.FloatField, "must be a number", (int, float)),
    (serializers.ListField, "must be an array", (list,)),
    (serializers.DictField, "must be an object", (dict,)),
]


def type_problem(field: serializers.Field, value: Any) -> str | None:
    """Why ``value`` is not of ``field``'s JSON type, or None."""
    if value is None:
        return None
    for kind, problem, types in _EXPECTED:
        if isinstance(field, kind):
            if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
                return problem
            break
    if isinstance(field, serializers.ListField):
        for position, item in enumerate(value):
            if (item_problem := type_problem(field.child, item)) is not None:
                return f"item {position}: {item_problem}"
    return None


class StrictInput:
    """Mixin for serializers (plain or model) that parse a request body."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            fields = {name: field for name, field in self.fields.items() if not field.read_only}
            takes = ", ".join(sorted(fields)) or "no fields"
            errors: dict[str, list[str]] = {}
            for name, value in data.items():
                if name not in fields:
                    kind = "read-only" if name in self.fields else "unknown"
                    errors[name] = [f"{kind} field; this request takes {takes}"]
                elif (problem := type_problem(fields[name], value)) is not None:
                    errors[name] = [problem]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
