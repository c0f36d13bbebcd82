"""The API's errors in its OpenAPI schema. Every route answers a refusal with the same
JSON body (``resourcemanager.api.errors``: ``code``, ``message``, ``fields``); the schema
names the statuses each kind of operation can answer with it, so that clients and code
generated from the schema expect them (drf-spectacular's post-processing hook)."""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "description": "A refusal: a stable code, a sentence, and the fields it concerns.",
    "properties": {
        "code": {"type": "string", "description": "Stable: the README lists them."},
        "message": {"type": "string"},
        "fields": {"type": "object", "additionalProperties": {
            "type": "array", "items": {"type": "string"}}},
    },
    "required": ["code", "message"],
}
#: Every operation's: bad input or scope, no or a bad credential, no role, too many failed
#: authentications from the address.
_ALWAYS = {
    "400": "invalid_input, malformed_request, invalid_scope and the like (the code says)",
    "401": "not_authenticated or authentication_failed",
    "403": "forbidden: no role in the scope that allows it",
    "429": "throttled: too many failed authentications from this address",
}
#: Operations that change something also meet the object's state, and take JSON only.
_WRITES = {
    "409": "the object's state or the scope's limits refuse it (the code says which)",
    "415": "unsupported_media_type: the body is not JSON",
}
_NOT_FOUND = {"404": "not_found: no such object in this scope (or page past the last)"}
_METHODS = ("get", "post", "put", "patch", "delete")
#: Routes outside the resource API: sign-in and export links answer in their own ways.
_OWN_ANSWERS = ("/api/auth/", "/api/exports/")


def add_error_responses(result: dict[str, Any], generator: Any, request: Any,
                        public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, item in result.get("paths", {}).items():
        for method in _METHODS:
            if method not in item or path.startswith(_OWN_ANSWERS):
                continue
            statuses = {**_ALWAYS, **_NOT_FOUND}
            if method != "get":
                statuses.update(_WRITES)
            responses = item[method].setdefault("responses", {})
            for status, description in statuses.items():
                responses.setdefault(status, {
                    "description": description,
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}},
                })
    return result
