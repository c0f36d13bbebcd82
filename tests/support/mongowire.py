"""A small mongod played by ``mockupdb``, for wire-level tests of the MongoDB adapter.

It speaks the real protocol to the real pymongo: the handshake, SCRAM-SHA-256 (RFC 5802)
verified against the passwords it stores, so a wrong password fails as on a server, and
the catalog and user commands the adapter sends, on an in-memory model (databases with
collections, users with passwords and roles). Every command is logged with its target
database; ``fail_next`` makes the next command of a name fail with a server error code.

Not modelled: authorization beyond "``listCollections`` needs a role on the database",
write concerns, replica sets, TLS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import socket
from dataclasses import dataclass, field
from typing import Any

from mockupdb import MockupDB

ITERATIONS = 4096
_HANDSHAKE = {"ismaster", "hello"}
_AUTH = {"saslstart", "saslcontinue"}
_IGNORED = {"endsessions"}
#: What a handshake reply needs for pymongo 4 (mockupdb's default wire version is too old).
HELLO = {"ismaster": True, "helloOk": True, "minWireVersion": 0, "maxWireVersion": 21}


class _PromptlyStoppedMockupDB(MockupDB):
    """``MockupDB`` whose ``stop`` returns at once: its accept loop polls a stop flag only
    between one-second waits for a connection, so ``stop`` raises the flag, then connects
    once to end the wait, before closing and joining as usual."""

    def stop(self) -> None:
        self._stopped = True
        with socket.create_connection((self.host, self.port), timeout=1):
            pass
        super().stop()


@dataclass
class Logged:
    database: str
    name: str
    doc: dict[str, Any]
    #: (database, user) the connection had authenticated as, or None.
    login: tuple[str, str] | None


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
    ``pwd`` and ``roles``, ``collections`` a database to its collection names; an admin
    ``admin_user`` with role ``root`` is defined in ``admin``."""

    admin_user: str = "root"
    admin_password: str = field(default_factory=lambda: "admin-" + secrets.token_urlsafe(16))
    users: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    collections: dict[str, set[str]] = field(default_factory=dict)
    log: list[Logged] = field(default_factory=list)
    logins: list[tuple[str, str, bool]] = field(default_factory=list)
    _failures: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    _conversations: dict[int, _Conversation] = field(default_factory=dict)
    _sessions: dict[int, tuple[str, str]] = field(default_factory=dict)

    def run(self) -> None:
        self.add_user("admin", self.admin_user, self.admin_password, ("root", "admin"))
        self.server = _PromptlyStoppedMockupDB(auto_ismaster=HELLO)
        self.server.autoresponds(self._handle)
        self.server.run()

    def stop(self) -> None:
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
        doc = {key: value for key, value in request.doc.items() if not key.startswith("$")}
        self.log.append(Logged(database, name, doc, self._sessions.get(port)))
        if self._failures.get(lowered):
            code, errmsg = self._failures[lowered].pop(0)
            return request.command_err(code, errmsg)
        handler = getattr(self, f"_cmd_{lowered}", None)
        if handler is None:
            return request.command_err(59, f"no such command: '{name}'")
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
        return {}

    def _cmd_usersinfo(self, database: str, doc: dict, port: int) -> dict[str, Any]:
        wanted = doc["usersInfo"]
        users = [{"_id": f"{db}.{user}", "user": user, "db": db, "roles": info["roles"],
                  "mechanisms": ["SCRAM-SHA-256"]}
                 for (db, user), info in sorted(self.users.items())]
        if wanted.get("forAllDBs"):
            users = [user for user in users if _matches(user, doc.get("filter", {}))]
        else:
            users = [user for user in users
                     if (user["db"], user["user"]) == (wanted["db"], wanted["user"])]
        return {"users": users}

    def _cmd_listdatabases(self, database: str, doc: dict, port: int) -> dict[str, Any]:
        names = [{"name": name} for name, collections in sorted(self.collections.items())
                 if collections]
        return {"databases": [item for item in names if _matches(item, doc.get("filter", {}))]}

    def _cmd_listcollections(self, database: str, doc: dict, port: int) -> dict[str, Any]:
        login = self._sessions.get(port)
        roles = self.users.get(login or ("", ""), {}).get("roles", [])
        if not any(role["db"] == database for role in roles):
            return self._error(13, f"not authorized on {database} to execute command")
        batch = [{"name": name, "type": "collection"}
                 for name in sorted(self.collections.get(database, ()))]
        return {"cursor": {"id": 0, "ns": f"{database}.$cmd.listCollections",
                           "firstBatch": batch}}


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def _matches(document: dict[str, Any], query: dict[str, Any]) -> bool:
    """The subset of MongoDB queries the adapter sends: equality and ``$regex``."""
    for key, condition in query.items():
        value = document.get(key)
        if isinstance(condition, dict):
            if not (isinstance(value, str) and re.search(condition["$regex"], value)):
                return False
        elif value != condition:
            return False
    return True
