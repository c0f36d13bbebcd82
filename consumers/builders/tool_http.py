"""What the tool builders (SQLPad, Metabase, Superset, Dremio) share.

Each of those tools holds one data-source connection per resource, found by a stable name.
``ToolBuilder`` runs the common flow (log in, look the connection up, create, update or
remove it); a builder module only says how its tool logs in, finds, writes and deletes.
``ToolClient`` is the HTTP session with the tool and maps its failures to DeliveryError.

No secret leaves this module in a message: a refusal is reported as the tool, the request
line (method and path, never the query), the HTTP status and a short detail taken from
the answer, from which every known secret (the tool's password or token, the session
token, the resource's password and URI) has been removed. An answer of a shape the
builder does not expect (another version of the tool, another tool at that URL) is
reported the same way: the request, what was expected, and the answer itself, shortened,
with those secrets and every value under a key that names a secret masked.
"""

from __future__ import annotations

import json
import logging
import re
from abc import abstractmethod
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

import requests

from consumers.builders import destinations
from consumers.builders.base import (
    CHECKED,
    CREATED,
    DELETED,
    UPDATED,
    ConsumerBuilder,
    DeliveryError,
    PropertySpec,
    ResourceEvent,
    timeout_property,
)
from providers.adapters.base import Credentials, scrub

logger = logging.getLogger(__name__)

#: Client errors worth retrying: a timeout, a concurrent change, a rate limit.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 409, 425, 429})
#: Characters of the tool's own error text kept in a DeliveryError.
MAX_DETAIL = 200
#: Keys under which the tools put their error text.
_DETAIL_KEYS = ("message", "errorMessage", "title", "detail", "error", "errors", "msg")
_TRUE = frozenset({"true", "1", "yes", "on"})
#: Keys whose values are masked when an answer is quoted (passwords, tokens, URIs, …).
_SECRET_KEY = re.compile(r"pass|secret|token|key|auth|cookie|session|uri|credential", re.I)
#: Exceptions of a builder reading an answer of a shape it does not expect.
SHAPE_ERRORS = (AttributeError, KeyError, TypeError, IndexError, ValueError)


def tool_properties(auth: dict[str, PropertySpec]) -> dict[str, PropertySpec]:
    """The properties of a tool builder: its URL, ``auth`` ones, TLS and timeout settings."""
    return {
        "url": PropertySpec("Base URL of the tool, e.g. https://tool.example.com", required=True,
                            kind="url"),
        **auth,
        "verify_tls": PropertySpec("Verify the tool's TLS certificate", kind="boolean",
                                   default=True),
        "timeout": timeout_property("Seconds to wait for each answer of the tool"),
    }


def flag(value: Any) -> bool:
    """A boolean property, which may arrive as text."""
    return value if isinstance(value, bool) else str(value).strip().lower() in _TRUE


def uri_options(credentials: Credentials) -> dict[str, str]:
    """The query options of the resource's URI (MongoDB's ``authSource``, ``tls``, …)."""
    return dict(parse_qsl(urlsplit(credentials.uri).query))


class ToolClient:
    """One HTTP session with a tool: JSON in and out, failures as DeliveryError."""

    def __init__(self, label: str, url: str, *, verify: bool, timeout: int,
                 secrets: list[str]) -> None:
        self.label = label
        self.base_url = url.rstrip("/") + "/"
        self.host = urlsplit(url).hostname or "?"
        self.timeout = timeout
        self.session = destinations.session()
        self.session.verify = verify
        self.session.headers["User-Agent"] = "resourcemanager"
        self._secrets: list[str] = []
        self.hide(*secrets)
        #: The request line and decoded body of the last answer, quoted when it is not
        #: what the builder expected.
        self.last: tuple[str, Any] = ("", None)
        #: What a builder learned of the tool's API in this session (the shape its
        #: version speaks), for the requests that follow.
        self.dialect: str | None = None

    @property
    def where(self) -> str:
        return f"{self.label} at {self.host}"

    def hide(self, *secrets: str) -> None:
        """Remember values (e.g. a session token) that must never appear in a message."""
        for secret in secrets:
            if secret:
                self._secrets.extend({secret, quote(secret, safe=""), quote_plus(secret)})

    def request(self, method: str, path: str, *, json: Any = None,
                params: dict[str, str] | None = None, missing_ok: bool = False) -> Any:
        """Send one request; return the decoded JSON answer (None when empty, or when
        ``missing_ok`` and the tool answers 404)."""
        where = self.where
        self.last = (f"{method} /{path}", None)
        try:
            response = self.session.request(method, self.base_url + path, json=json,
                                            params=params, timeout=self.timeout)
        except requests.Timeout:
            waited = destinations.bounded_timeout(self.timeout)[1]
            raise DeliveryError(f"{where} did not answer within {waited:g}s") from None
        except requests.exceptions.SSLError:
            raise DeliveryError(f"{where}: TLS verification failed", transient=False) from None
        except requests.ConnectionError:
            raise DeliveryError(f"cannot reach {where}") from None
        except requests.RequestException as exc:
            raise DeliveryError(f"cannot call {where} ({type(exc).__name__})",
                                transient=False) from None
        except SHAPE_ERRORS as exc:  # a bug of ours, not the tool's answer
            raise RuntimeError(f"sending {method} /{path} failed") from exc
        status = response.status_code
        if missing_ok and status == 404:
            return None
        if status >= 400:
            refused = "refused" if status in (401, 403) else "failed"
            raise DeliveryError(
                f"{where} {refused} {method} /{path}: HTTP {status}{self._detail(response)}",
                transient=status >= 500 or status in RETRYABLE_CLIENT_ERRORS,
            )
        if not response.content:
            return None
        try:
            answer = response.json()
        except ValueError:
            raise DeliveryError(f"{where} answered {method} /{path} with something other "
                                "than JSON: is the URL the tool's?", transient=False) from None
        self.last = (f"{method} /{path}", answer)
        return answer

    def unexpected(self, expected: str) -> DeliveryError:
        """A permanent failure: the last answer is not ``expected`` (e.g. "a list of
        connections"). The message quotes the answer, shortened and without secrets."""
        line, answer = self.last
        return DeliveryError(f"{self.where} answered {line or 'nothing'} with "
                             f"{self.quote(answer)}, expected {expected}", transient=False)

    def refused(self, reason: Any) -> DeliveryError:
        """A permanent failure the tool reported in an otherwise successful answer."""
        return DeliveryError(f"{self.where} refused {self.last[0]}: {self.quote(reason)}",
                             transient=False)

    def quote(self, value: Any) -> str:
        """``value`` as compact JSON, with secrets masked, shortened to ``MAX_DETAIL``."""
        text = value if isinstance(value, str) else json.dumps(
            _masked(value), separators=(",", ":"), default=str)
        text = scrub(text, *self._secrets)
        return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1] + "…"

    def _detail(self, response: requests.Response) -> str:
        """The tool's own explanation, without secrets, shortened; empty if it gave none."""
        try:
            body = response.json()
        except ValueError:
            return ""
        if isinstance(body, dict):
            body = next((body[key] for key in _DETAIL_KEYS if body.get(key)), None)
        texts: list[str] = []
        _collect_texts(body, texts)
        text = scrub(" ".join(" ".join(texts).split()), *self._secrets)
        if len(text) > MAX_DETAIL:
            text = text[: MAX_DETAIL - 1] + "…"
        return f" ({text})" if text else ""


def _masked(value: Any) -> Any:
    """``value`` with every value under a key that names a secret replaced by ``***``."""
    if isinstance(value, dict):
        return {key: "***" if _SECRET_KEY.search(str(key)) and item not in ("", None)
                else _masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def _collect_texts(value: Any, into: list[str]) -> None:
    """The strings (and numbers) of a JSON value, depth first."""
    if isinstance(value, dict):
        for item in value.values():
            _collect_texts(item, into)
    elif isinstance(value, list):
        for item in value:
            _collect_texts(item, into)
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        into.append(str(value))


class ToolBuilder(ConsumerBuilder):
    """A tool with one data-source connection per resource, kept by its stable name.

    ``deliver`` logs in, looks the connection up by name, then creates or updates it for
    created/updated/checked events and removes it (if present) for deleted ones. Events of
    resources the tool does not support are ignored without contacting it.
    """

    #: What the tool calls a connection, for log lines.
    noun = "connection"

    def deliver(self, event: ResourceEvent) -> None:
        if event.name not in (CREATED, UPDATED, CHECKED, DELETED) or not self.accepts(event):
            return
        credentials = None if event.name == DELETED else event.credentials
        if event.name != DELETED and credentials is None:
            raise DeliveryError(f"the {event.name} event carries no credentials",
                                transient=False)
        name = self.connection_name(event)
        payload = None if credentials is None else self.payload(
            name, event.provider_class, credentials)
        client = self.client(credentials)
        try:
            done = self._apply(client, name, payload)
        except SHAPE_ERRORS as exc:
            # An answer of another shape than the builder reads (another version of the
            # tool): reported with what came back, never as a bare exception.
            raise client.unexpected(f"an answer the {self.label} builder can read "
                                    f"({type(exc).__name__}: {client.quote(str(exc))})"
                                    ) from None
        if done:
            logger.info("%s: %s %s %r", self.key, done, self.noun, name)

    def _apply(self, client: ToolClient, name: str, payload: dict[str, Any] | None) -> str:
        """Log in, then create, update or remove (``payload`` None) the connection
        ``name``; what was done, or "" when there was nothing to remove."""
        self.authenticate(client)
        existing = self.find(client, name)
        if payload is None:
            if existing is None:
                return ""
            self.remove(client, existing)
            return "removed"
        if existing is None:
            self.create(client, payload)
            return "created"
        self.update(client, existing, payload)
        return "updated"

    def setting(self, key: str) -> Any:
        """A property's value, or its default when unset."""
        value = self.config.get(key)
        return self.properties[key].default if value is None or value == "" else value

    def client(self, credentials: Credentials | None) -> ToolClient:
        secrets = [str(self.setting(key) or "")
                   for key, spec in self.properties.items() if spec.secret]
        if credentials is not None:
            secrets += [credentials.password, credentials.uri]
        return ToolClient(self.label, str(self.setting("url")),
                          verify=flag(self.setting("verify_tls")),
                          timeout=int(self.setting("timeout")), secrets=secrets)

    def login(self, user_key: str) -> tuple[str, str]:
        """The (user, password) to log in with; a permanent DeliveryError when unset."""
        user, password = self.setting(user_key), self.setting("password")
        if not user or not password:
            tokens = [key for key, spec in self.properties.items()
                      if spec.secret and key != "password"]
            alternatives = "".join(f", or {key}" for key in tokens)
            raise DeliveryError(f"the {self.label} consumer needs {user_key} and password"
                                f"{alternatives}", transient=False)
        return str(user), str(password)

    def connection_name(self, event: ResourceEvent) -> str:
        """The connection's name in the tool (tools with naming rules override this)."""
        return event.connection_name

    @abstractmethod
    def authenticate(self, client: ToolClient) -> None:
        """Log in (or set the token header) on ``client``."""

    @abstractmethod
    def find(self, client: ToolClient, name: str) -> dict[str, Any] | None:
        """The tool's connection called ``name``, or None."""

    @abstractmethod
    def payload(self, name: str, provider_class: str, credentials: Credentials) -> dict[str, Any]:
        """The connection the tool should hold for these credentials."""

    @abstractmethod
    def create(self, client: ToolClient, payload: dict[str, Any]) -> None:
        """Create the connection."""

    @abstractmethod
    def update(self, client: ToolClient, existing: dict[str, Any],
               payload: dict[str, Any]) -> None:
        """Replace ``existing``'s settings with ``payload``."""

    @abstractmethod
    def remove(self, client: ToolClient, existing: dict[str, Any]) -> None:
        """Delete the connection; one already gone is fine."""
