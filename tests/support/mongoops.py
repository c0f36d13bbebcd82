"""What ``FakeMongod`` records of the commands it serves, and the commands it keeps
running (``hold_next``) as ``currentOp`` shows them, with the session owner's ``uid`` the
server derives from the user."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Logged:
    """A command as the server received it."""

    database: str
    name: str
    doc: dict[str, Any]
    #: (database, user) the connection had authenticated as, or None.
    login: tuple[str, str] | None
    #: The session the command was sent in (``{"id": UUID}``), or None.
    lsid: dict[str, Any] | None = None


@dataclass
class Operation:
    """A command in progress, as ``currentOp`` lists it."""

    opid: int
    entry: Logged
    done: threading.Event = field(default_factory=threading.Event)
    killed: bool = False

    def as_current_op(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"opid": self.opid, "active": True, "op": "command",
                                 "ns": f"{self.entry.database}.$cmd",
                                 "command": self.entry.doc}
        if self.entry.login:
            database, user = self.entry.login
            shown["effectiveUsers"] = [{"user": user, "db": database}]
        if self.entry.lsid:
            shown["lsid"] = {**self.entry.lsid, "uid": session_uid(self.entry.login)}
        return shown

    def kill(self) -> None:
        self.killed = True
        self.done.set()


def session_uid(login: tuple[str, str] | None) -> bytes:
    """The owner of a session as the server names it: SHA-256 of ``user@db`` (of nothing
    without a login), as BSON binary data decodes."""
    database, user = login or ("", "")
    return hashlib.sha256(f"{user}@{database}".encode() if login else b"").digest()
