"""The small interface every provider adapter implements, and the values it exchanges."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

from providers.adapters.naming import DEFAULT_PREFIX, backend_name_pattern, is_login_of
from providers.adapters.properties import PropertyError, PropertySpec, validate

BACKEND_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{2,62}$")
MAX_URI_LENGTH = 2000


@dataclass(frozen=True)
class InstanceConfig:
    """Decrypted connection settings of one provider instance (its admin account)."""

    host: str
    port: int
    username: str
    password: str = field(repr=False)
    options: dict[str, Any] = field(default_factory=dict)
    connect_timeout: int = 5
    #: Seconds one statement or request may take (statement timeout, socket read timeout).
    read_timeout: int = 120

    @property
    def public_host(self) -> str:
        """Host written into tenants' URIs (the admin may reach the server differently)."""
        return self.options.get("public_host") or self.host

    @property
    def public_port(self) -> int:
        return int(self.options.get("public_port") or self.port)


@dataclass(frozen=True)
class Credentials:
    """What a tenant needs to reach its resource. Always stored encrypted."""

    username: str
    password: str = field(repr=False)
    host: str
    port: int
    database: str
    uri: str = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Credentials:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


class Access(StrEnum):
    """What a login of its own may do with a resource's data."""

    READ_ONLY = "read-only"  # read every table or object, now and later; change nothing
    READ_WRITE = "read-write"  # read and change data; no schema changes, roles or databases
    OWNER = "owner"  # what the resource's owner may do, schema changes included


@dataclass(frozen=True)
class Login:
    """A login of its own to one resource, with one access level: a credential's backend
    side. ``valid_until``: the backend refuses it afterwards, where it can."""

    name: str
    password: str = field(repr=False)
    access: Access
    valid_until: datetime | None = None
    #: Its resource is frozen (over a size limit): the login comes out as ``freeze``
    #: leaves every login of the resource.
    frozen: bool = False


@dataclass(frozen=True)
class Size:
    """What one resource holds on its backend, as measured; ``objects`` where the backend
    counts them (S3)."""

    bytes: int
    objects: int | None = None


@dataclass(frozen=True)
class CheckResult:
    """Outcome of a CHECK: ``ok`` after repairs; ``repaired`` names what was fixed.

    ``credentials`` is set when a repair had to issue new ones (e.g. a new S3 access key
    because the old one was deleted); they replace the stored credentials.
    """

    ok: bool
    message: str
    repaired: tuple[str, ...] = ()
    credentials: Credentials | None = None


@dataclass(frozen=True)
class Inventory:
    """Databases and logins of one instance named like ours, read from its catalog.

    ``healthy`` names a database whose same-named login exists, may log in and holds its
    privileges on it, as CHECK wants them. Passwords are not verified: that takes a login
    as the tenant (CHECK, or a ``--deep`` sweep).
    """

    databases: frozenset[str]
    logins: frozenset[str]
    healthy: frozenset[str]

    @classmethod
    def matching(
        cls, prefix: str, databases: Iterable[str], logins: Iterable[str], healthy: Iterable[str]
    ) -> Inventory:
        """Keep only names ``new_backend_name(prefix)`` could have made: catalog rows are
        filtered by a full match before anything else sees them."""
        pattern = backend_name_pattern(prefix)

        def ours(names: Iterable[str]) -> frozenset[str]:
            return frozenset(name for name in names if pattern.fullmatch(name))

        databases, logins = ours(databases), ours(logins)
        return cls(databases, logins, ours(healthy) & databases & logins)

    @property
    def names(self) -> frozenset[str]:
        return self.databases | self.logins


class ProviderError(Exception):
    """A backend operation failed. The message is shown to users and must hold no secret.

    ``transient`` marks failures worth retrying later (server unreachable, lock timeout).
    Adapters raise it ``from None``: driver exceptions may carry connection secrets.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


def scrub(text: str, *secrets: str) -> str:
    """Remove known secret values from a message before it leaves the adapter."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def require_login_name(name: str, backend_name: str) -> str:
    """Logins are named after their resource by us; refuse anything else before it reaches
    a server."""
    if not is_login_of(name, require_backend_name(backend_name)):
        raise ProviderError(f"refusing login identifier {name!r} for {backend_name!r}")
    return name


def require_owner_login(username: str, backend_name: str, owner_login: str | None) -> str:
    """The login CHECK verifies the owner through: the owner's own account (named like
    the resource) or, after a rotation of the owner, ``owner_login``; refuse credentials
    of any other."""
    if owner_login is None:
        expected = require_backend_name(backend_name)
    else:
        expected = require_login_name(owner_login, backend_name)
    if username != expected:
        raise ProviderError(f"the stored credentials are those of {username!r}, not of "
                            f"the owner's login {expected!r}")
    return expected


def require_backend_name(name: str) -> str:
    """Backend names are generated by us; refuse anything else before it reaches a server."""
    if not BACKEND_NAME_RE.fullmatch(name):
        raise ProviderError(f"refusing invalid backend identifier {name!r}")
    return name


class ProviderAdapter(ABC):
    """One backend class (PostgreSQL, MySQL, ...). One instance per configured server.

    Every operation is idempotent: running it again after a crash at any step converges to
    the same end state without duplicating backend objects.
    """

    key: ClassVar[str]
    label: ClassVar[str]
    resource_type: ClassVar[str]
    uri_scheme: ClassVar[str]
    #: Other schemes accepted when an external resource is registered by URI.
    uri_scheme_aliases: ClassVar[tuple[str, ...]] = ()
    #: The instance option a declaration URL's path sets (``postgresql://…/postgres``).
    url_path_option: ClassVar[str | None] = None
    #: What one resource is on this backend, in messages ("database", "bucket").
    object_noun: ClassVar[str] = "database"
    #: What the resource's dedicated account is on this backend, in messages.
    login_noun: ClassVar[str] = "login"
    default_port: ClassVar[int]
    #: Options an operator may set on an instance of this class (checked when the instance
    #: is saved or declared: ``providers.services.validate_options``).
    instance_options: ClassVar[dict[str, PropertySpec]] = {}
    #: Properties a resource of this class takes (validated, published, applied by
    #: ``create`` and ``update``).
    properties: ClassVar[dict[str, PropertySpec]] = {}
    #: Options every instance understands.
    common_options: ClassVar[dict[str, PropertySpec]] = {
        "public_host": PropertySpec("Host written into tenants' URIs (default: the instance "
                                    "host)", max_length=253),
        "public_port": PropertySpec("Port written into tenants' URIs (default: the instance "
                                    "port)", kind="integer", minimum=1, maximum=65535),
        "name_prefix": PropertySpec("Prefix of generated backend names (default 'rm_')"),
    }

    def __init__(self, config: InstanceConfig) -> None:
        self.config = config

    @classmethod
    def object_name(cls, backend_name: str) -> str:
        """The name of the database (or bucket) that CREATE makes for ``backend_name``."""
        return backend_name

    @property
    def name_prefix(self) -> str:
        return str(self.config.options.get("name_prefix") or DEFAULT_PREFIX)

    def validate_properties(
        self, properties: dict[str, Any], current: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Every declared property of a new resource, checked and with defaults filled in;
        ``current``: the stored ones of the resource being updated. Raise PropertyError."""
        if properties and not self.properties:
            raise PropertyError(f"{self.label} resources take no properties")
        return validate(self.properties, properties, current)

    @abstractmethod
    def ping(self) -> None:
        """Connect with the admin account; raise ProviderError when that fails."""

    def security_warnings(self) -> list[str]:
        """Server settings that weaken tenants' isolation, as sentences for the operator.

        Read with the admin account; most backends have nothing to report.
        """
        return []

    @abstractmethod
    def create(self, backend_name: str, password: str, properties: dict[str, Any]) -> Credentials:
        """Create the resource and its dedicated login (or reset the login's password)."""

    def update(  # noqa: B027
        self, backend_name: str, properties: dict[str, Any], *, owner_login: str | None = None
    ) -> None:
        """Apply the resource's (validated) properties again, to the owner's current login
        (``owner_login`` after a rotation of the owner, else the owner's own). Without
        declared properties there is nothing to change."""

    @abstractmethod
    def check(
        self, credentials: Credentials, *, repair: bool, owner_login: str | None = None
    ) -> CheckResult:
        """Verify that database and login exist and the credential works; repair if asked.
        ``owner_login``: the login that holds the owner's credentials after a rotation of
        the owner (else the owner's own account does)."""

    @abstractmethod
    def delete(self, backend_name: str) -> None:
        """Drop the resource with all its data and its login. Missing objects are fine."""

    #: The access levels ``add_login`` grants; empty: the adapter issues no logins yet.
    login_access: ClassVar[frozenset[Access]] = frozenset()
    #: The backend makes a login's secret (``add_login`` returns it) instead of taking the
    #: password it is given.
    login_secret_from_backend: ClassVar[bool] = False

    def add_login(self, backend_name: str, login: Login) -> Credentials:
        """Create ``login`` on the resource, or reset an existing one to exactly it."""
        raise ProviderError(f"{self.label} issues no logins of their own yet")

    def remove_login(self, backend_name: str, name: str) -> None:
        """Drop the login and end its open sessions; nothing to do when it is gone."""
        raise ProviderError(f"{self.label} issues no logins of their own yet")

    #: The owner's own login rotates: an owner-level login (``add_login``) takes over its
    #: credentials, then ``close_owner_login`` ends the original one; CHECK then verifies
    #: the owner through that login.
    owner_rotates: ClassVar[bool] = False

    def close_owner_login(self, backend_name: str) -> None:
        """The resource's original owner account may no longer log in, and its open
        sessions end; what it owns stays its own. Done already: nothing to do."""
        raise ProviderError(f"{self.label} does not rotate the owner's login yet")

    def hand_over_definitions(self, backend_name: str, logins: Sequence[str],
                              heir: str) -> list[str]:
        """Before ``logins`` are dropped: make ``heir``, a login of the same resource, the
        definer of the objects they defined there, where objects run as their definer.
        Returns what was not handed over, each with why (its definer is kept then)."""
        return []

    #: ``sizes``, ``freeze`` and ``unfreeze`` are implemented: resources of this class are
    #: measured by the CHECK sweep and frozen when over a size limit.
    measures_size: ClassVar[bool] = False

    def sizes(self, backend_names: Iterable[str]) -> dict[str, Size]:
        """Bytes each resource holds, in as few round trips as the backend allows; names
        the backend does not have are left out."""
        raise ProviderError(f"{self.label} resources are not measured yet")

    def freeze(self, backend_name: str, logins: Mapping[str, Access]) -> list[str]:
        """Make the resource take no more data through any of ``logins`` (login name ->
        access level; the owner's own account included) and end the sessions of those it
        changed, so that new ones see the change. Frozen already: nothing changes. Returns
        the logins changed."""
        raise ProviderError(f"{self.label} resources cannot be frozen yet")

    def unfreeze(self, backend_name: str, logins: Mapping[str, Access]) -> list[str]:
        """Give ``logins`` back what their access level allows, as ``freeze`` took it,
        and end the sessions of those it changed. Returns the logins changed."""
        raise ProviderError(f"{self.label} resources cannot be frozen yet")

    #: What ``dump`` writes and ``restore`` reads: a backup is restored only by a class of
    #: the same format. Empty: the class makes no backups.
    dump_format: ClassVar[str] = ""
    #: The dump comes compressed already (a backup then only encrypts it).
    dump_compressed: ClassVar[bool] = False
    #: The file name extension of an exported dump.
    dump_extension: ClassVar[str] = "dump"
    #: ``restore`` changes all or nothing (a dump that fails midway leaves the resource
    #: as it was); else a dump uploaded by a tenant is first tried on a scratch copy.
    restores_atomically: ClassVar[bool] = False

    @classmethod
    def is_dump(cls, head: bytes) -> bool:
        """Whether ``head``, the first bytes of an upload, begins a dump that ``restore``
        reads (a check of its kind, not of its whole content)."""
        return False

    def dump(self, credentials: Credentials) -> AbstractContextManager[Iterator[bytes]]:
        """A logical dump of the resource, logged in as its owner (``credentials``), as
        chunks that raise ProviderError at their end if the dump failed."""
        raise ProviderError(f"{self.label} resources cannot be backed up yet")

    def restore(self, credentials: Credentials, chunks: Iterable[bytes], *, owner: str) -> None:
        """Replace what a dump (``chunks``) holds in the resource, logged in as its owner
        (``credentials``); what it makes belongs to ``owner``, the owner role."""
        raise ProviderError(f"{self.label} resources cannot be restored yet")

    #: ``empty`` is offered (CLEANUP).
    empties: ClassVar[bool] = False

    def empty(self, credentials: Credentials, *, owner: str) -> None:
        """Drop every object of the resource's data, logged in as its owner
        (``credentials``), keeping the resource, its logins and their privileges: what
        ``owner``, the owner role, makes afterwards reaches them as before."""
        raise ProviderError(f"{self.label} resources cannot be emptied yet")

    def manifest(self, credentials: Credentials) -> dict[str, int]:
        """The resource's tables and their exact row counts, read in one snapshot, logged
        in as its owner (``credentials``): what a restored copy of a backup must hold."""
        raise ProviderError(f"{self.label} resources have no manifest")

    @abstractmethod
    def inventory(self, prefix: str) -> Inventory:
        """What exists for names generated with ``prefix``, in one admin connection."""

    @classmethod
    def parse_uri(cls, uri: str) -> Credentials:
        """Credentials of an external resource given as a URI, for unmanaged registration.

        Raises PropertyError with a message that never repeats the URI (it holds a secret).
        """
        if len(uri) > MAX_URI_LENGTH or any(ord(char) < 0x21 for char in uri):
            raise PropertyError(
                f"the URI must be at most {MAX_URI_LENGTH} characters, without spaces or "
                "control characters"
            )
        try:
            parts = urlsplit(uri)
        except ValueError:  # an unclosed IPv6 bracket
            raise PropertyError("the URI's host is not an address: an IPv6 address goes "
                                "in brackets, [::1]") from None
        schemes = (cls.uri_scheme, *cls.uri_scheme_aliases)
        if parts.scheme.lower() not in schemes:
            raise PropertyError(f"{cls.label} URIs start with {cls.uri_scheme}://")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0:
            raise PropertyError("the URI's port is not a number from 1 to 65535")
        port = port or cls.default_port
        database = unquote(parts.path.lstrip("/"))
        username, password = unquote(parts.username or ""), unquote(parts.password or "")
        if not parts.hostname or not username or not database or "/" in database:
            raise PropertyError(
                f"a {cls.label} URI names a host, a user and a {cls.object_noun}: "
                f"{cls.uri_scheme}://user:password@host:port/name"
            )
        return Credentials(username, password, host=parts.hostname, port=port,
                           database=database, uri=uri)

    def credentials(self, name: str, password: str, login: str | None = None) -> Credentials:
        """Credentials for database ``name`` and its login (``login``, default the one named
        like it), with the URI tenants connect to."""
        host, port, user = self.config.public_host, self.config.public_port, login or name
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@"
        netloc += f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        uri = f"{self.uri_scheme}://{netloc}/{quote(name, safe='')}"
        return Credentials(user, password, host=host, port=port, database=name, uri=uri)
