"""Declared properties: the typed schema of what a resource of a provider class takes, of
what a consumer of a builder is configured with, and of the options of a provider instance.

A provider adapter or a consumer builder declares ``properties: dict[str, PropertySpec]``;
``validate`` checks a request against it (the one validator of both, behind the API and the
admin forms) and the API publishes it; ``resourcemanager.ui.schema_forms`` builds form fields
from it. Error messages name the property, never its value: values may be long, odd or
secret. Plain values only: this module imports nothing of the app, nor Django.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

KINDS = ("string", "url", "boolean", "integer", "choice")
MAX_URL_LENGTH = 2048
#: Default ``max_length`` of strings, and of secrets (tokens may be long).
MAX_STRING_LENGTH = 255
MAX_SECRET_LENGTH = 4096
#: What secret properties look like in every answer. Sent back unchanged, it keeps them.
MASK = "********"
#: Values of a secret that leave it as it is (on an update: keep the stored one).
_KEEP_SECRET = (None, "", MASK)
#: Unknown keys are repeated in messages only when they look like a property name.
_SHOWN_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: How a boolean reads as text (a declaration URL's query: ``?tls=true``).
TRUE_TEXT = frozenset({"true", "1", "yes", "on"})
FALSE_TEXT = frozenset({"false", "0", "no", "off"})


class PropertyError(ValueError):
    """A property is not acceptable. The message names it and never repeats its value."""


@dataclass(frozen=True)
class PropertySpec:
    """One declared property.

    ``kind`` is one of ``KINDS``. ``default`` fills a property that is missing or null (None:
    the backend's own default). ``minimum``/``maximum`` bound integers, ``max_length``
    strings (default ``MAX_STRING_LENGTH``, ``MAX_SECRET_LENGTH`` for secrets), ``choices``
    the values of a ``choice``. A property that is not ``updatable`` keeps the value it was
    created with.
    """

    description: str
    required: bool = False
    #: Stored encrypted, never shown back in full, never in logs or events.
    secret: bool = False
    kind: str = "string"
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    choices: tuple[str, ...] = ()
    updatable: bool = True

    def __post_init__(self) -> None:
        if self.max_length is None:  # frozen: set once, here
            length = MAX_SECRET_LENGTH if self.secret else MAX_STRING_LENGTH
            object.__setattr__(self, "max_length", length)
        if self.kind not in KINDS:
            raise ValueError(f"unknown property kind {self.kind!r}")
        if (self.kind == "choice") != bool(self.choices):
            raise ValueError("choices are declared for, and only for, kind 'choice'")


def is_http_url(value: object) -> bool:
    """An absolute http(s) URL with a host name (at most 253 characters) and, if it names
    one, a port from 1 to 65535; at most ``MAX_URL_LENGTH`` characters, without spaces or
    control characters."""
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH or any(
            ord(char) < 0x21 or ord(char) == 0x7F for char in value):
        return False
    try:
        parts = urlsplit(value)
        port = parts.port  # a ValueError past 65535
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname)
            and len(parts.hostname) <= 253 and port != 0)


def validate(
    specs: Mapping[str, PropertySpec],
    given: object,
    current: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Every declared property, checked, with defaults filled in; raise PropertyError.

    With ``current`` (the stored properties of an existing resource or consumer) this is an
    update: ``given`` changes the properties it names only, null restores the default, and a
    property that is not ``updatable`` must keep its value. A secret given as null, empty or
    ``MASK`` is left as it is: kept on an update, not given on a creation.
    """
    if given is None:
        given = {}
    if not isinstance(given, Mapping):
        raise PropertyError("properties must be an object")
    unknown = [key for key in given if key not in specs]
    if unknown:
        key = unknown[0]
        named = f"property {key!r}" if _SHOWN_KEY.fullmatch(str(key)) else "a property"
        known = ", ".join(specs) or "none"
        raise PropertyError(f"unknown {named}; known properties: {known}")
    given = {key: value for key, value in given.items()
             if not (specs[key].secret and value in _KEEP_SECRET)}
    merged = {**(current or {}), **given}
    result = {name: check_value(name, spec, merged.get(name)) for name, spec in specs.items()}
    if current is not None:
        for name, spec in specs.items():
            before = spec.default if current.get(name) is None else current[name]
            if not spec.updatable and result[name] != before:
                raise PropertyError(f"property {name!r} cannot be changed after creation")
    return result


def check_value(name: str, spec: PropertySpec, value: Any, *, noun: str = "property") -> Any:
    """``value`` of the spec's kind and within its bounds, or the default for null; the
    message names it as ``noun`` (a property, an option)."""
    label = f"{noun} {name!r}"
    if isinstance(value, str) and not spec.secret:
        value = value.strip()
    if value is None or (value == "" and spec.kind in ("string", "url", "choice")):
        if spec.required and spec.default is None:
            raise PropertyError(f"{label} is required")
        return spec.default
    if spec.kind == "boolean":
        if not isinstance(value, bool):
            raise PropertyError(f"{label} must be true or false")
    elif spec.kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise PropertyError(f"{label} must be an integer")
        if (spec.minimum is not None and value < spec.minimum) or (
            spec.maximum is not None and value > spec.maximum
        ):
            raise PropertyError(f"{label} must be {_bounds(spec)}")
    elif spec.kind == "choice":
        if value not in spec.choices:
            raise PropertyError(f"{label} must be one of {', '.join(spec.choices)}")
    elif spec.kind == "url":
        if not is_http_url(value):
            raise PropertyError(f"{label} must be an http(s) URL")
    elif not isinstance(value, str) or len(value) > spec.max_length or _CONTROL.search(value):
        raise PropertyError(
            f"{label} must be a string of at most {spec.max_length} characters, "
            "without control characters"
        )
    return value


def from_text(spec: PropertySpec, value: Any) -> Any:
    """``value`` read as the spec's kind when it is text that spells one (an integer or a
    boolean given in a URL's query); anything else as it is, for ``check_value``."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    if spec.kind == "integer" and re.fullmatch(r"-?[0-9]{1,18}", text):
        return int(text)
    if spec.kind == "boolean" and text in TRUE_TEXT | FALSE_TEXT:
        return text in TRUE_TEXT
    return value


def _bounds(spec: PropertySpec) -> str:
    if spec.minimum is not None and spec.maximum is not None:
        return f"an integer from {spec.minimum} to {spec.maximum}"
    if spec.minimum is not None:
        return f"an integer of at least {spec.minimum}"
    return f"an integer of at most {spec.maximum}"

