"""Validation of everything a user names: scopes, resource names, tags, and spans of
time in seconds."""

import re
from collections.abc import Iterable

from resourcemanager.core.errors import InvalidInput

SCOPE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,62}$")
MAX_TAGS = 20
#: The longest span in seconds anything takes (the integer columns' range: some 68 years).
MAX_SECONDS = 2**31 - 1


def validate_scope(scope: object) -> str:
    if not isinstance(scope, str) or not SCOPE_RE.fullmatch(scope):
        raise InvalidInput(
            "a scope is 1-63 lowercase letters, digits and hyphens, starting with a letter "
            "or digit",
            code="invalid_scope",
            field="scope",
        )
    return scope


def validate_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise InvalidInput(
            "a name is 1-63 ASCII letters, digits, '.', '_' or '-', starting with a letter "
            "or digit",
            code="invalid_name",
            field="name",
        )
    return name


def validate_tags(tags: object) -> list[str]:
    """Tags are a list of short lowercase labels; duplicates are dropped, order is kept."""
    if tags is None:
        return []
    if isinstance(tags, str) or not isinstance(tags, Iterable):
        raise InvalidInput("tags must be a list of strings", code="invalid_tags", field="tags")
    result: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
            raise InvalidInput(
                "a tag is 1-63 lowercase letters, digits, '.', '_', ':' or '-'",
                code="invalid_tags",
                field="tags",
            )
        if tag not in result:
            result.append(tag)
    if len(result) > MAX_TAGS:
        raise InvalidInput(f"at most {MAX_TAGS} tags", code="invalid_tags", field="tags")
    return result


def validate_seconds(value: object, field: str, *, minimum: int,
                     maximum: int | None = None) -> int:
    """A whole number of seconds from ``minimum`` to ``maximum`` (at most ``MAX_SECONDS``)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidInput(f"{field} is a whole number of seconds, at least {minimum}",
                           field=field)
    maximum = MAX_SECONDS if maximum is None else min(maximum, MAX_SECONDS)
    if value > maximum:
        raise InvalidInput(f"{field} may be at most {maximum} seconds here", field=field)
    return value
