"""Portable lookups for JSON columns (SQLite and PostgreSQL)."""

from typing import Any


def json_list_contains(field_name: str, value: str) -> dict[str, Any]:
    """Lookup kwargs matching rows whose JSON list ``field_name`` holds ``value``.

    Portable across SQLite and PostgreSQL; only for values validated to contain no
    quotes (tags, scopes).
    """
    return {f"{field_name}__icontains": f'"{value}"'}
