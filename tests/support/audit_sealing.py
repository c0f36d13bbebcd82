"""The statements the audit chain adds after each entry (``audit.chain``), for tests that
count the statements of the code they test."""

from __future__ import annotations

import re

_SEQ = re.compile(r"\bseq\b")


def is_sealing(sql: str) -> bool:
    """A statement of a seal: the chain's head, or entries' places (never their insert)."""
    if '"audit_chainhead"' in sql:
        return True
    if sql.startswith('INSERT INTO "audit_auditentry"'):
        return False
    return '"audit_auditentry"' in sql and bool(_SEQ.search(sql))


def without_sealing(queries: list[dict]) -> list[dict]:
    return [query for query in queries if not is_sealing(query["sql"])]
