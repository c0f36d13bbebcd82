"""Quoting MySQL/MariaDB identifiers and GRANT targets, where ``_`` and ``%`` are
wildcards."""

from __future__ import annotations

import re


def quote_identifier(name: str) -> str:
    """Backtick-quote an identifier (validated names hold no backtick; doubled anyway)."""
    return "`" + name.replace("`", "``") + "`"


def escape_wildcards(name: str) -> str:
    """Escape ``_``, ``%`` and ``\\``, wildcards in GRANT targets and LIKE patterns."""
    return re.sub(r"([_%\\])", r"\\\1", name)


def grant_target(database: str) -> str:
    """```db`.*`` for GRANT; ``_`` and ``%`` are wildcards there and get escaped."""
    return quote_identifier(escape_wildcards(database)) + ".*"
