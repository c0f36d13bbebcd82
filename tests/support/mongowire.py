"""A small mongod played by ``mockupdb``, for wire-level tests of the MongoDB adapter.

It speaks the real protocol to the real pymongo: the handshake, SCRAM-SHA-256 (RFC 5802)
verified against the passwords it stores, so a wrong password fails as on a server, and
the catalog, user, data (``insert``, ``find``) and operation commands the adapter and
tests send, on an in-memory model (databases with collections and documents, users with
passwords and roles). Each command is authorized as a server does it, by the built-in
roles of the connection's user (tests/support/mongoroles.py); a dropped user's
connections lose it. Every command is logged with its target database; ``fail_next``
makes the next command of a name fail with a server error code, ``hold_next`` keeps the
next one running (listed by ``currentOp``) until ``killOp`` or a killed session ends it.

Not modelled: query operators beyond equality, ``$regex`` and ``$elemMatch``, cursors
beyond a first batch, write concerns, replica sets, TLS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mockupdb import MockupDB

from tests.support.mongoops import Logged, Operation
from tests.support.mongoroles import CLUSTER, NEEDS, NO_AUTHENTICATION, allows

ITERATIONS = 4096
UNAUTHORIZED = 13
INTERRUPTED = 11601
#: How long a held command waits to be killed before it runs after all.
HOLD_SECONDS = 10.0
_HANDSHAKE = {"ismaster", "hello"}
_AUTH = {"saslstart", "saslcontinue"}
_IGNORED = {"endsessions"}
#: What a handshake reply needs for pymongo 4 (mockupdb's default wire version is too
#: old); with a session timeout, pymongo sends each command in a session (``lsid``).
HELLO = {"ismaster": True, "helloOk": True, "minWireVersion": 0, "maxWireVersion": 21,
         "logicalSessionTimeoutMinutes": 30}


class _PromptlyStoppedMockupDB(MockupDB):
    """``MockupDB`` whose ``stop`` returns at once: its accept loop polls a stop flag only
    between one-second waits for a connection, so ``stop`` raises the flag, then connects
    once to end the wait, before closing and joining as usual."""

    def stop(self) -> None:
        self._stopped = True
        with socket.create_connection((self.host, self.port), timeout=1):
            pass
        super().stop()

    def _accept_loop(self) -> None:
        """A server stopped before its accept loop began finds its socket closed."""
        try:
            super()._accept_loop()
        except OSError:
            if not self._stopped:
                raise

    @contextmanager
    def released(self) -> Iterator[None]:
        """Let other connections be served while this one's command waits (responders
        run holding the server's lock)."""
        with self._unlock():
            yield


@dataclass
class _Conversation:
    database: str
    user: str
    first_bare: bytes
    server_first: bytes
    salt: bytes


@dataclass
class FakeMongod:
    """Start with ``run()``, stop with ``stop()``. ``users`` maps (db, user) to a dict with
    ``pwd`` and ``roles``, ``collections`` a database to its collection names,
    ``documents`` (database, collection) to its documents; an admin ``admin_user`` with
    role ``root`` is defined in ``admin``."""

    admin_user: str = "root"
    admin_password: str = field(default_factory=lambda: "admin-" + secrets.token_urlsafe(16))
    users: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    collections: dict[str, set[str]] = field(default_factory=dict)
    documents: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    log: list[Logged] = field(default_factory=list)
    logins: list[tuple[str, str, bool]] = field(default_factory=list)
    running: dict[int, Operation] = field(default_factory=dict)
    _failures: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    _holds: set[str] = field(default_factory=set)
    _next_opid: int = 1
    _conversations: dict[int, _Conversation] = field(default_factory=dict)
    _sessions: dict[int, tuple[str, str]] = field(default_factory=dict)

    def run(self) -> None:
        self.add_user("admin", self.admin_user, self.admin_password, ("root", "admin"))
        self.server = _PromptlyStoppedMockupDB(auto_ismaster=HELLO)
        self.server.autoresponds(self._handle)
        self.server.run()

    def stop(self) -> None:
        for operation in list(self.running.values()):
            operation.done.set()  # let held commands finish, so their threads end
        self.server.stop()

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    def add_user(self, database: str, user: str, password: str, *roles: tuple[str, str]
                 ) -> None:
        self.users[(database, user)] = {
            "pwd": password, "roles": [{"role": role, "db": db} for role, db in roles]}

    def fail_next(self, command: str, code: int, errmsg: str) -> None:
        self._failures.setdefault(command.lower(), []).append((code, errmsg))

    def hold_next(self, command: str) -> None:
        """Keep the next authorized ``command`` running, as a slow query would, until it is
        killed (it then fails with ``Interrupted``) or ``HOLD_SECONDS`` pass."""
        self._holds.add(command.lower())

    def commands(self) -> list[tuple[str, str]]:
        """(database, command name) of every logged command, in order."""
        return [(entry.database, entry.name) for entry in self.log]

    def sent(self, name: str) -> list[Logged]:
        return [entry for entry in self.log if entry.name == name]

    def clear(self) -> None:
        self.log.clear()
        self.logins.clear()

    # -- the server side ------------------------------------------------------------------

    def _handle(self, request: Any) -> bool:
        name = request.command_name or ""
        lowered = name.lower()
        if lowered in _HANDSHAKE:
            reply = dict(HELLO)
            if "saslSupportedMechs" in request.doc:
                reply["saslSupportedMechs"] = ["SCRAM-SHA-256"]
            return request.replies(reply)
        database, port = request.namespace, request.client_port
        if lowered == "saslstart":
            return self._sasl_start(request, database, port)
        if lowered == "saslcontinue":
            return self._sasl_continue(request, port)
        if lowered in _IGNORED:
            return request.replies({})
        if self._sessions.get(port) not in self.users:  # the server forgets a dropped user
            self._sessions.pop(port, None)
        doc = {key: value for key, value in request.doc.items()
               if not key.startswith("$") and key != "lsid"}
        entry = Logged(database, name, doc, self._sessions.get(port), request.doc.get("lsid"))
        self.log.append(entry)
        if self._failures.get(lowered):
            code, errmsg = self._failures[lowered].pop(0)
            return request.command_err(code, errmsg)
        handler = getattr(self, f"_cmd_{lowered}", None)
        if handler is None:
            return request.command_err(59, f"no such command: '{name}'")
        if refusal := self._refusal(entry, lowered):
            return request.command_err(UNAUTHORIZED, refusal)
        if lowered in self._holds:
            self._holds.discard(lowered)
            if self._held(entry).killed:
                return request.command_err(INTERRUPTED, "operation was interrupted")
        reply = handler(database, doc, port)
        if reply.get("ok") == 0:
            return request.command_err(reply["code"], reply["errmsg"])
        return request.replies(reply)

    def _sasl_start(self, request: Any, database: str, port: int) -> bool:
        payload = bytes(request.doc["payload"])
        first_bare = payload.split(b",", 2)[2]  # after the gs2 header "n,,"
        fields = dict(item.split(b"=", 1) for item in first_bare.split(b","))
        user, nonce = fields[b"n"].decode(), fields[b"r"]
        if (database, user) not in self.users or request.doc.get("mechanism") != "SCRAM-SHA-256":
            self.logins.append((database, user, False))
            return request.command_err(18, "Authentication failed.")
        salt = secrets.token_bytes(16)
        server_first = b"r=%s,s=%s,i=%d" % (nonce + base64.b64encode(secrets.token_bytes(18)),
                                              base64.b64encode(salt), ITERATIONS)
        conversation = secrets.randbelow(2**31)
        self._conversations[conversation] = _Conversation(database, user, first_bare,
                                                          server_first, salt)
        return request.replies({"conversationId": conversation, "done": False,
                                "payload": server_first})

    def _sasl_continue(self, request: Any, port: int) -> bool:
        talk = self._conversations.pop(request.doc["conversationId"])
        without_proof, _, proof = bytes(request.doc["payload"]).rpartition(b",p=")
        message = b",".join((talk.first_bare, talk.server_first, without_proof))
        password = self.users.get((talk.database, talk.user), {}).get("pwd", "")
        salted = hashlib.pbkdf2_hmac("sha256", password.encode(), talk.salt, ITERATIONS)
        client_key = _hmac(salted, b"Client Key")
        signature = _hmac(hashlib.sha256(client_key).digest(), message)
        claimed = bytes(a ^ b for a, b in zip(base64.b64decode(proof), signature, strict=True))
        accepted = hmac.compare_digest(claimed, client_key)
        self.logins.append((talk.database, talk.user, accepted))
        if not accepted:
            return request.command_err(18, "Authentication failed.")
        self._sessions[port] = (talk.database, talk.user)
        verifier = base64.b64encode(_hmac(_hmac(salted, b"Server Key"), message))
        return request.replies({"conversationId": request.doc["conversationId"], "done": True,
                                "payload": b"v=" + verifier})

    def _refusal(self, entry: Logged, command: str) -> str | None:
        """Why the connection's user may not run ``command`` here, or None."""
        if command in NO_AUTHENTICATION:
            return None
        if entry.login is None:
            return f"command {entry.name} requires authentication"
        action, target = NEEDS.get(command, ("", ""))
        if not action:
            return None
        on_cluster = target == CLUSTER or entry.doc.get("usersInfo", {}) == {"forAllDBs": True}
        if allows(self.users[entry.login]["roles"], action, None if on_cluster else
                  entry.database):
            return None
        return f"not authorized on {entry.database} to execute command {{ {entry.name} }}"

    def _held(self, entry: Logged) -> Operation:
        """Run ``entry`` as an operation in progress until it is killed or times out."""
        operation = Operation(self._next_opid, entry)
        self._next_opid += 1
        self.running[operation.opid] = operation
        with self.server.released():
            operation.done.wait(HOLD_SECONDS)
        del self.running[operation.opid]
        return operation

    def _roles_of(self, port: int) -> list[dict[str, Any]]:
        login = self._sessions.get(port)
        return self.users[login]["roles"] if login else []

    @staticmethod
    def _error(code: int, errmsg: str) -> dict[str, Any]:
        return {"ok": 0, "code": code, "errmsg": errmsg}

    def _cmd_ping(self, database: str, doc: dict, port: int) -> dict[str, Any]:
        return {}

    def _cmd_create(self, database: str, doc: dict, port: int) -> dict[str, Any]:
        names = self.collections.setdefault(database, set())
        if doc["create"] in names:
            return self._error(48, f"Collection {database}.{doc['create']} already exists.")
        names.add(doc["create"])
        return {}

    def _cmd_createuser(self, database: str, doc: dict, port: int) -> dict[str, Any]:
        key = (database, doc["createUser"])
        if key in self.users:
            return self._error(51003, f'User "{key[1]}@{database}" already exists')
        self.users[key] = {"pwd": doc["pwd"], "roles": list(doc["roles"])}
        return {}

    def _cmd_updateuser(self, database: str, doc: dict, port: int) -> dict[str, Any]:
        user = self.users.get((database, doc["updateUser"]))
        if user is None:
            return self._error(11, f"Could not find user \"{doc['updateUser']}\" for db "
                                   f"\"{database}\"")
        user.update({key: doc[key] for key in ("pwd", "roles") if key in doc})
        return {}

    def _cmd_dropuser(self, database: str, doc: dict, port: int) -> dict[str, Any]:
        if self.users.pop((database, doc["dropUser"]), None) is None:
            return self._error(11, f"User '{doc['dropUser']}@{database}' not found")
        return {}

    def _cmd_dropdatabase(self, database: str, doc: dict, port: int) -> dict[str, Any]:
        self.collections.pop(database, None)
        for key in [key for key in self.documents if key[0] == database]:
            del self.documents[key]
        return {}

    def _cmd_insert(self, database: str, doc: dict, port: int) -> dict[str, Any]:
        self.collections.setdefault(database, set()).add(doc["insert"])
        self.documents.setdefault((database, doc["insert"]), []).extend(doc["documents"])
        return {"n": len(doc["documents"])}

    def _cmd_find(self, database: str, doc: dict, port: int) -> dict[str, Any]:
        found = [item for item in self.documents.get((database, doc["find"]), [])
                 if _matches(item, doc.get("filter", {}))][:doc.get("limit") or None]
        return {"cursor": {"id": 0, "ns": f"{database}.{doc['find']}", "firstBatch": found}}

    def _cmd_currentop(self, database: str, doc: dict, port: int) -> dict[str, Any]:
        query = {key: value for key, value in doc.items() if key != "currentOp"}
        shown = [operation.as_current_op() for operation in self.running.values()]
        return {"inprog": [item for item in shown if _matches(item, query)]}

    def _cmd_killop(self, database: str, doc: dict, port: int) -> dict[str, Any]:
        if (operation := self.running.get(doc["op"])) is not None:
            operation.kill()
        return {"info": "attempting to kill op"}

    def _cmd_killallsessionsbypattern(self, database: str, doc: dict, port: int
                                      ) -> dict[str, Any]:
        patterns = doc["killAllSessionsByPattern"]
        if any("users" in pattern or "roles" in pattern for pattern in patterns):
            # Only ``__system`` may impersonate; no user here holds it.
            return self._error(UNAUTHORIZED,
                               "Not authorized to impersonate in killAllSessionsByPattern")
        for operation in list(self.running.values()):
            lsid = operation.as_current_op().get("lsid")
            if lsid and (not patterns or any(_matches(lsid, pattern) for pattern in patterns)):
                operation.kill()
        return {}

    def _cmd_usersinfo(self, database: str, doc: dict, port: int) -> dict[str, Any]:
        wanted = doc["usersInfo"]
        users = [{"_id": f"{db}.{user}", "user": user, "db": db, "roles": info["roles"],
                  "mechanisms": ["SCRAM-SHA-256"]}
                 for (db, user), info in sorted(self.users.items())]
        if wanted == 1:
            users = [user for user in users if user["db"] == database]
        elif wanted.get("forAllDBs"):
            users = [user for user in users if _matches(user, doc.get("filter", {}))]
        else:
            users = [user for user in users
                     if (user["db"], user["user"]) == (wanted["db"], wanted["user"])]
        return {"users": users}

    def _cmd_listdatabases(self, database: str, doc: dict, port: int) -> dict[str, Any]:
        """Every database to those who may list them, else those they hold a role on."""
        roles = self._roles_of(port)
        every = allows(roles, "listDatabases", None)
        names = [{"name": name} for name, collections in sorted(self.collections.items())
                 if collections and (every or any(role["db"] == name for role in roles))]
        return {"databases": [item for item in names if _matches(item, doc.get("filter", {}))]}

    def _cmd_listcollections(self, database: str, doc: dict, port: int) -> dict[str, Any]:
        batch = [{"name": name, "type": "collection"}
                 for name in sorted(self.collections.get(database, ()))]
        return {"cursor": {"id": 0, "ns": f"{database}.$cmd.listCollections",
                           "firstBatch": batch}}


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _matches(document: dict[str, Any], query: dict[str, Any]) -> bool:
    """The subset of MongoDB queries the adapter and tests send: equality, ``$regex`` and
    ``$elemMatch``."""
    for key, condition in query.items():
        value = document.get(key)
        if isinstance(condition, dict) and "$regex" in condition:
            if not (isinstance(value, str) and re.search(condition["$regex"], value)):
                return False
        elif isinstance(condition, dict) and "$elemMatch" in condition:
            if not (isinstance(value, list) and any(
                    isinstance(item, dict) and _matches(item, condition["$elemMatch"])
                    for item in value)):
                return False
        elif value != condition:
            return False
    return True
