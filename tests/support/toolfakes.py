"""Fake SQLPad (5 and later, and 3.1.0), Metabase, Superset and Dremio servers.

Each answers the endpoints our builders use like the tool's public REST API (paths, auth
headers, body shapes, status codes) and keeps its connections in ``items`` (id -> stored
object), so tests can check what the tool ended up holding. Logins: user
``admin@example.com`` / ``admin``, password ``TOOL_PASSWORD``; tokens: ``TOOL_TOKEN``.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from tests.support.toolserver import Answer, Seen, ToolServer

TOOL_PASSWORD = "tool-Pa55!word"
TOOL_TOKEN = "tool-token-9f8e7d"
SESSION = "session-5e55"
UNAUTHORIZED: Answer = (401, {"message": "Unauthorized"}, {})


class FakeTool(ToolServer):
    """A tool with connections in ``items``; ``fail_writes`` makes writes fail with that
    status, echoing the request body the way some tools quote the values they refuse."""

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[Any, dict[str, Any]] = {}
        self.fail_writes: int | None = None
        self._ids = itertools.count(1)

    def new_id(self) -> int:
        return next(self._ids)

    def refused_write(self, seen: Seen) -> Answer | None:
        if self.fail_writes is None:
            return None
        return self.fail_writes, {"message": f"cannot save {seen.body}"}, {}


class FakeSQLPad(FakeTool):
    """server/routes/signin.js and server/routes/connections.js."""

    def __init__(self) -> None:
        super().__init__()

        @self.route("POST", "/api/signin")
        def signin(seen: Seen) -> Answer:
            if seen.body == {"email": "admin@example.com", "password": TOOL_PASSWORD}:
                return 200, {}, {"Set-Cookie": f"sqlpad.sid={SESSION}; Path=/; HttpOnly"}
            return 401, {"title": "Unauthorized", "detail": "wrong e-mail or password"}, {}

        @self.route("GET", "/api/connections")
        def listing(seen: Seen) -> Answer:
            if not self.signed_in(seen):
                return UNAUTHORIZED
            blanked = [{**item, "data": {**item["data"], "password": ""}}
                       for item in self.items.values()]
            return 200, blanked, {}

        @self.route("POST", "/api/connections")
        def create(seen: Seen) -> Answer:
            if not self.signed_in(seen):
                return UNAUTHORIZED
            if refused := self.refused_write(seen):
                return refused
            item = {**seen.body, "id": f"c{self.new_id()}"}
            self.items[item["id"]] = item
            return 200, {**item, "data": {**item["data"], "password": ""}}, {}

        @self.route("PUT", "/api/connections/([^/]+)")
        def update(seen: Seen, id: str) -> Answer:
            if not self.signed_in(seen):
                return UNAUTHORIZED
            if id not in self.items:
                return 404, {"title": "Not found"}, {}
            self.items[id] = {**self.items[id], **seen.body}
            return 200, self.items[id], {}

        @self.route("DELETE", "/api/connections/([^/]+)")
        def delete(seen: Seen, id: str) -> Answer:
            if not self.signed_in(seen):
                return UNAUTHORIZED
            if self.items.pop(id, None) is None:
                return 404, {"title": "Not found"}, {}
            return 200, {}, {}

    @staticmethod
    def signed_in(seen: Seen) -> bool:
        return (seen.cookies.get("sqlpad.sid") == SESSION
                or seen.headers.get("Authorization") == f"Bearer {TOOL_TOKEN}")


class FakeSQLPad3(FakeTool):
    """SQLPad 3.1.0 (server/routes/connections.js of that release): lists wrapped in
    ``{"connections": [...]}``, flat connections with ``_id``, refusals as HTTP 200 with
    ``{"error": ...}``, only the driver fields it knows kept (``models/connections.js``)."""

    FIELDS = ("_id", "name", "driver", "host", "port", "database", "username", "password")

    def __init__(self) -> None:
        super().__init__()
        #: When set, the ``{"error": ...}`` every write is answered with (HTTP 200).
        self.write_error: str | None = None

        @self.route("POST", "/api/signin")
        def signin(seen: Seen) -> Answer:
            if seen.body == {"email": "admin@example.com", "password": TOOL_PASSWORD}:
                return 200, {}, {"Set-Cookie": f"sqlpad.sid={SESSION}; Path=/; HttpOnly"}
            return 401, b"Unauthorized", {}

        @self.route("GET", "/api/connections")
        def listing(seen: Seen) -> Answer:
            if not self.signed_in(seen):
                return 302, b"Found. Redirecting to /signin", {"Location": "/signin"}
            return 200, {"connections": [{**item, "password": ""}
                                         for item in self.items.values()]}, {}

        @self.route("POST", "/api/connections")
        def create(seen: Seen) -> Answer:
            return self.save(seen, f"c{self.new_id()}")

        @self.route("PUT", "/api/connections/([^/]+)")
        def update(seen: Seen, id: str) -> Answer:
            if id not in self.items:
                return 200, {"error": "Connection not found"}, {}
            return self.save(seen, id)

        @self.route("DELETE", "/api/connections/([^/]+)")
        def delete(seen: Seen, id: str) -> Answer:
            self.items.pop(id, None)
            return 200, {}, {}

    def save(self, seen: Seen, id: str) -> Answer:
        if refused := self.refused_write(seen):  # as a proxy in front of it would
            return refused
        if self.write_error is not None:
            return 200, {"error": self.write_error}, {}
        if seen.body.get("driver") not in ("postgres", "mysql"):
            return 200, {"error": "Problem saving connection"}, {}
        item = {key: seen.body[key] for key in self.FIELDS if key in seen.body}
        self.items[id] = {**item, "_id": id}
        return 200, {"connection": {**self.items[id], "password": ""}}, {}

    @staticmethod
    def signed_in(seen: Seen) -> bool:
        return seen.cookies.get("sqlpad.sid") == SESSION


class FakeMetabase(FakeTool):
    """src/metabase/session/api.clj and src/metabase/warehouses/api.clj."""

    def __init__(self) -> None:
        super().__init__()

        @self.route("POST", "/api/session")
        def login(seen: Seen) -> Answer:
            if seen.body == {"username": "admin@example.com", "password": TOOL_PASSWORD}:
                return 200, {"id": SESSION}, {}
            return 401, {"errors": {"password": "did not match stored password"}}, {}

        @self.route("GET", "/api/database")
        def listing(seen: Seen) -> Answer:
            if not self.signed_in(seen):
                return UNAUTHORIZED
            data = [{key: value for key, value in item.items() if key != "details"}
                    for item in self.items.values()]
            return 200, {"data": data, "total": len(data)}, {}

        @self.route("POST", "/api/database")
        def create(seen: Seen) -> Answer:
            if not self.signed_in(seen):
                return UNAUTHORIZED
            if refused := self.refused_write(seen):
                return refused
            item = {**seen.body, "id": self.new_id()}
            self.items[item["id"]] = item
            return 200, item, {}

        @self.route("PUT", r"/api/database/(\d+)")
        def update(seen: Seen, id: str) -> Answer:
            if not self.signed_in(seen):
                return UNAUTHORIZED
            if int(id) not in self.items:
                return 404, "Not found.", {}
            self.items[int(id)] |= seen.body
            return 200, self.items[int(id)], {}

        @self.route("DELETE", r"/api/database/(\d+)")
        def delete(seen: Seen, id: str) -> Answer:
            if not self.signed_in(seen):
                return UNAUTHORIZED
            if self.items.pop(int(id), None) is None:
                return 404, "Not found.", {}
            return 204, None, {}

    @staticmethod
    def signed_in(seen: Seen) -> bool:
        return (seen.headers.get("X-Metabase-Session") == SESSION
                or seen.headers.get("x-api-key") == TOOL_TOKEN)


class FakeSuperset(FakeTool):
    """Flask-AppBuilder's security API and superset/databases/api.py, with CSRF checks."""

    CSRF = "csrf-c5rf"
    FILTER = re.compile(r"\(filters:!\(\(col:database_name,opr:eq,value:'((?:[^'!]|!.)*)'\)\)\)")

    def __init__(self) -> None:
        super().__init__()

        @self.route("POST", "/api/v1/security/login")
        def login(seen: Seen) -> Answer:
            expected = {"username": "admin", "password": TOOL_PASSWORD, "provider": "db"}
            if {key: seen.body.get(key) for key in expected} == expected:
                return 200, {"access_token": SESSION}, {}
            return 401, {"message": "Not authorized"}, {}

        @self.route("GET", "/api/v1/security/csrf_token/")
        def csrf(seen: Seen) -> Answer:
            if not self.signed_in(seen):
                return UNAUTHORIZED
            return 200, {"result": self.CSRF}, {"Set-Cookie": "session=s1; Path=/"}

        @self.route("GET", "/api/v1/database/")
        def listing(seen: Seen) -> Answer:
            if not self.signed_in(seen):
                return UNAUTHORIZED
            match = self.FILTER.fullmatch(seen.query.get("q", ""))
            if match is None:
                return 400, {"message": "Not a valid rison argument"}, {}
            name = re.sub(r"!(.)", r"\1", match.group(1))
            result = [{"id": id, "database_name": item["database_name"]}
                      for id, item in self.items.items() if item["database_name"] == name]
            return 200, {"count": len(result), "result": result}, {}

        @self.route("POST", "/api/v1/database/")
        def create(seen: Seen) -> Answer:
            if refused := self.refuse(seen):
                return refused
            id = self.new_id()
            self.items[id] = seen.body
            return 201, {"id": id, "result": self.masked(seen.body)}, {}

        @self.route("PUT", r"/api/v1/database/(\d+)")
        def update(seen: Seen, id: str) -> Answer:
            if refused := self.refuse(seen):
                return refused
            if int(id) not in self.items:
                return 404, {"message": "Not found"}, {}
            self.items[int(id)] = seen.body
            return 200, {"id": int(id), "result": self.masked(seen.body)}, {}

        @self.route("DELETE", r"/api/v1/database/(\d+)")
        def delete(seen: Seen, id: str) -> Answer:
            if refused := self.refuse(seen):
                return refused
            if self.items.pop(int(id), None) is None:
                return 404, {"message": "Not found"}, {}
            return 200, {"message": "OK"}, {}

    @staticmethod
    def signed_in(seen: Seen) -> bool:
        return seen.headers.get("Authorization") == f"Bearer {SESSION}"

    def refuse(self, seen: Seen) -> Answer | None:
        if not self.signed_in(seen):
            return UNAUTHORIZED
        if seen.headers.get("X-CSRFToken") != self.CSRF or seen.cookies.get("session") != "s1":
            return 400, {"errors": [{"message": "The CSRF token is missing."}]}, {}
        return self.refused_write(seen)

    @staticmethod
    def masked(body: dict[str, Any]) -> dict[str, Any]:
        uri = re.sub(r"(//[^:/]+:)[^@]*@", r"\1XXXXXXXXXX@", body["sqlalchemy_uri"])
        return {**body, "sqlalchemy_uri": uri}


class FakeDremio(FakeTool):
    """dac/backend LogInLogOutResource (/apiv2/login) and api/CatalogResource.java."""

    NAME = re.compile(r"[^.\"@/:\[\]]+")
    HIDDEN = "$DREMIO_EXISTING_VALUE$"

    def __init__(self) -> None:
        super().__init__()

        @self.route("POST", "/apiv2/login")
        def login(seen: Seen) -> Answer:
            if seen.body == {"userName": "admin", "password": TOOL_PASSWORD}:
                return 200, {"token": SESSION, "userName": "admin"}, {}
            return 401, {"errorMessage": "Login failed: invalid username or password"}, {}

        @self.route("GET", "/api/v3/catalog/by-path/(.+)")
        def by_path(seen: Seen, path: str) -> Answer:
            if not self.signed_in(seen):
                return UNAUTHORIZED
            for item in self.items.values():
                if item["name"].lower() == path.lower():
                    return 200, self.shown(item), {}
            return 404, {"errorMessage": f"Could not find entity with path [{path}]"}, {}

        @self.route("POST", "/api/v3/catalog")
        def create(seen: Seen) -> Answer:
            if not self.signed_in(seen):
                return UNAUTHORIZED
            if refused := self.refused_write(seen):
                return refused
            if not self.NAME.fullmatch(seen.body["name"]):
                return 400, {"errorMessage": "Source name can not contain periods, "
                                             "double quotes or @."}, {}
            item = {**seen.body, "id": f"src-{self.new_id()}", "tag": "v1"}
            self.items[item["id"]] = item
            return 200, self.shown(item), {}

        @self.route("PUT", "/api/v3/catalog/([^/]+)")
        def update(seen: Seen, id: str) -> Answer:
            if not self.signed_in(seen):
                return UNAUTHORIZED
            if id not in self.items:
                return 404, {"errorMessage": f"Could not find source with id [{id}]"}, {}
            if seen.body.get("tag") != self.items[id]["tag"]:
                return 409, {"errorMessage": "tag mismatch"}, {}
            tag = f"v{int(self.items[id]['tag'][1:]) + 1}"
            self.items[id] = {**seen.body, "tag": tag}
            return 200, self.shown(self.items[id]), {}

        @self.route("DELETE", "/api/v3/catalog/([^/]+)")
        def delete(seen: Seen, id: str) -> Answer:
            if not self.signed_in(seen):
                return UNAUTHORIZED
            if id not in self.items:
                return 404, {"errorMessage": f"Could not find source with id [{id}]"}, {}
            if seen.query.get("tag") != self.items[id]["tag"]:
                return 409, {"errorMessage": "tag mismatch"}, {}
            del self.items[id]
            return 204, None, {}

    @staticmethod
    def signed_in(seen: Seen) -> bool:
        return seen.headers.get("Authorization") in (f"_dremio{SESSION}", f"Bearer {TOOL_TOKEN}")

    def shown(self, item: dict[str, Any]) -> dict[str, Any]:
        """The source as the API shows it: secrets replaced."""
        config = {key: self.HIDDEN if key in ("password", "accessSecret") else value
                  for key, value in item["config"].items()}
        return {**item, "config": config, "entityType": "source"}
