"""Quoting MySQL/MariaDB identifiers and GRANT targets, where ``_`` and ``%`` are
wildcards, and showing tenants' names on a line."""

from __future__ import annotations

import re

#: What a line of a message or of a comment must not hold.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def quote_identifier(name: str) -> str:
    """Backtick-quote an identifier (validated names hold no backtick; doubled anyway)."""
    return "`" + name.replace("`", "``") + "`"


def escape_wildcards(name: str) -> str:
    """Escape ``_``, ``%`` and ``\\``, wildcards in GRANT targets and LIKE patterns."""
    return re.sub(r"([_%\\])", r"\\\1", name)


def grant_target(database: str) -> str:
    """```db`.*`` for GRANT; ``_`` and ``%`` are wildcards there and get escaped."""
    return quote_identifier(escape_wildcards(database)) + ".*"


def printable(text: str) -> str:
    """``text`` with its control characters escaped (``\\x0a``), so that a name it holds
    ends no line of a log or a comment."""
    return _CONTROL.sub(lambda control: f"\\x{ord(control.group()):02x}", text)
