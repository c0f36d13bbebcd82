"""Provider instances: saving them (audited) and syncing those declared in settings."""

from __future__ import annotations

import ipaddress
import re
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import record
from providers.adapters import registry
from providers.adapters.base import ProviderError
from providers.adapters.naming import PREFIX_RE
from providers.adapters.properties import PropertyError, check_value, from_text
from providers.models import Provider
from resourcemanager.core.errors import Forbidden, InvalidInput, NotFound
from resourcemanager.core.validation import SCOPE_RE
from resourcemanager.identity.roles import Principal
from resourcemanager.outbox import queueing
from resourcemanager.resources.failures import log_failure, tenant_message

_URL_SCHEMES = {"postgresql": "postgresql", "postgres": "postgresql", "mysql": "mysql"}
_PROBE_THREADS = 8
#: A DNS name: dot-separated labels of letters, digits, '-' (and '_', as in service names).
_HOST_RE = re.compile(r"(?=.{1,253}$)[A-Za-z0-9_][A-Za-z0-9_-]{0,62}"
                      r"(\.[A-Za-z0-9_][A-Za-z0-9_-]{0,62})*\.?")


@dataclass(frozen=True)
class DeclaredProvider:
    key: str
    provider_class: str
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    options: dict[str, Any] = field(default_factory=dict)
    allowed_scopes: list[str] = field(default_factory=list)
    description: str = ""
    is_default: bool = False


def save_provider(principal: Principal, provider: Provider, *, created: bool) -> Provider:
    """Save an instance edited by an operator (admin) and audit it; its connection is
    tested once the change is committed."""
    _require_operator(principal)
    registry.adapter_class(provider.provider_class)
    with transaction.atomic():
        provider.save()
        action = "provider.create" if created else "provider.update"
        record(principal.name, action, AuditEntry.Outcome.SUCCESS, target=provider)
        _probe_after_commit(provider)
    return provider


def run_connection_test(principal: Principal | None, scope: str, key: str) -> Diagnosis:
    """Test the admin account's connection to the instance ``key`` usable in ``scope`` now
    (operators only: it logs in to a shared server), keeping the outcome as its
    reachability; audited."""
    _require_operator(principal)
    provider = Provider.objects.usable_in(scope).filter(key=key).first()
    if provider is None:
        raise NotFound("no such provider in this scope")
    diagnosis = diagnose_provider(provider)
    outcome = AuditEntry.Outcome.FAILURE if diagnosis.problem else AuditEntry.Outcome.SUCCESS
    record(principal.name, "provider.test", outcome, target=provider,
           message=tenant_message(diagnosis.problem or "reachable", provider))
    return diagnosis


def _require_operator(principal: Principal | None) -> None:
    if principal is None or not principal.is_operator:
        raise Forbidden("only platform operators manage provider instances")


def _probe_after_commit(provider: Provider) -> None:
    """Queue a connection test of ``provider`` for when the transaction commits (run in
    this process without a broker); a broker that cannot take it is logged, and the
    periodic probe tests it later."""
    provider_id = provider.pk
    transaction.on_commit(
        lambda: queueing.send(queueing.PROBE_PROVIDER, {"provider_id": provider_id}),
        robust=True,
    )


def validate_options(provider_class: str, options: object) -> dict[str, Any]:
    """Options must be known to the class and of the kind it declares (text spelling an
    integer or a boolean counts: declaration URLs give them so); a name prefix must fit
    every backend's rules. Returned as given."""
    adapter = registry.adapter_class(provider_class)
    if not isinstance(options, dict):
        raise InvalidInput("options must be an object", field="options")
    known = adapter.common_options | adapter.instance_options
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise InvalidInput(
            f"unknown options {', '.join(unknown)}; {adapter.label} knows {', '.join(known)}",
            field="options",
        )
    for name, value in options.items():
        try:
            check_value(name, known[name], from_text(known[name], value), noun="option")
        except PropertyError as exc:
            raise InvalidInput(str(exc), field="options") from None
    if "name_prefix" in options and not PREFIX_RE.fullmatch(str(options["name_prefix"])):
        raise InvalidInput(
            "name_prefix is 1-16 lowercase letters, digits or '_', starting with a letter",
            field="options",
        )
    return options


def validate_port(port: object) -> int:
    """The instance's port: 1 to 65535."""
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise InvalidInput("port must be an integer from 1 to 65535", field="port")
    return port


def validate_host(host: object) -> str:
    """The instance's host: a DNS name (service names may hold '_') or an IP address,
    without a port or a scheme (those have fields of their own)."""
    if isinstance(host, str):
        bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        with suppress(ValueError):
            return str(ipaddress.ip_address(bare))
        if _HOST_RE.fullmatch(host):
            return host
    raise InvalidInput("host is a DNS name or an IP address, without a port or a scheme",
                       field="host")


def validate_allowed_scopes(scopes: object) -> list[str]:
    """The scopes an instance accepts: a list of scope names (empty: every scope)."""
    if not isinstance(scopes, list) or not all(
            isinstance(scope, str) and SCOPE_RE.fullmatch(scope) for scope in scopes):
        raise InvalidInput("allowed_scopes must be a list of scope names (lowercase "
                           "letters, digits and '-'), or empty for every scope",
                           field="allowed_scopes")
    return scopes


def validate_key(key: str, provider_id: int | None = None) -> str:
    """A key no other instance has, even in another case (requests name instances by it);
    ``provider_id``: the instance whose key it is."""
    if Provider.objects.filter(key__iexact=key).exclude(key=key).exclude(
            pk=provider_id).exists():
        raise InvalidInput("another provider instance has this key in another case",
                           field="key")
    return key


def reach(provider: Provider) -> str | None:
    """None when the admin account can connect, else the readable reason. Stores nothing
    and touches no app database, so it may run in a thread."""
    try:
        provider.adapter().ping()
    except ProviderError as exc:
        return exc.message
    return None


@dataclass(frozen=True)
class Diagnosis:
    """A connection test: the reason it failed, or the isolation warnings of the server."""

    problem: str | None
    warnings: list[str] = field(default_factory=list)


def diagnose_provider(provider: Provider) -> Diagnosis:
    """``ping_provider``, then (when reachable) the server's isolation warnings."""
    problem = ping_provider(provider)
    if problem:
        return Diagnosis(problem)
    try:
        return Diagnosis(None, provider.adapter().security_warnings())
    except ProviderError as exc:
        return Diagnosis(None, [f"could not look for isolation problems: {exc.message}"])


def ping_provider(provider: Provider) -> str | None:
    """``reach``, with the outcome kept on the instance (the API shows it as reachability)."""
    problem = reach(provider)
    record_reachability(provider, problem)
    return problem


def record_reachability(provider: Provider, problem: str | None) -> None:
    """Keep the outcome of a connection to the instance (a ping, a sweep) for the API;
    a problem is logged with the reference tenants are shown (``failures``)."""
    detail = (problem or "")[:300]
    if detail:
        log_failure(f"connection to provider {provider.key}", detail)
    Provider.objects.filter(pk=provider.pk).update(
        reachable=problem is None,
        reachability_message=detail,
        reachability_checked_at=timezone.now(),
    )


def probe_provider(provider_id: int) -> str | None:
    """``ping_provider`` for one instance, if it still exists and is enabled."""
    provider = Provider.objects.filter(pk=provider_id, enabled=True).first()
    return ping_provider(provider) if provider is not None else None


def probe_providers() -> dict[str, str | None]:
    """Ping every enabled instance at once (one slow server does not delay the others);
    per key, None or the reason it cannot be reached. Outcomes are kept as reachability."""
    providers = list(Provider.objects.filter(enabled=True).order_by("key"))
    if not providers:
        return {}
    with ThreadPoolExecutor(max_workers=min(len(providers), _PROBE_THREADS)) as pool:
        problems = list(pool.map(reach, providers))
    for provider, problem in zip(providers, problems, strict=True):
        record_reachability(provider, problem)
    return {provider.key: problem for provider, problem in zip(providers, problems, strict=True)}


def declared_providers() -> list[DeclaredProvider]:
    """Instances declared by ``RM_PROVIDERS`` and the ``RM_PROVIDER_<CLASS>_URL`` shortcuts."""
    entries: list[dict[str, Any]] = list(settings.RM_PROVIDERS)
    for key, url in (
        ("postgresql", settings.RM_PROVIDER_POSTGRESQL_URL),
        ("mysql", settings.RM_PROVIDER_MYSQL_URL),
        ("mongodb", settings.RM_PROVIDER_MONGODB_URL),
        ("s3", settings.RM_PROVIDER_S3_URL),
    ):
        if url:
            entries.append({"key": key, "url": url})
    return [_parse_declaration(entry) for entry in entries]


def sync_declared_providers() -> list[Provider]:
    """Make the database match the declared instances; undeclared env rows are disabled.
    Each declared instance's connection is tested once the change is committed."""
    declared = declared_providers()
    synced = []
    with transaction.atomic():
        for item in declared:
            validate_key(item.key)
            provider, _ = Provider.objects.update_or_create(
                key=item.key,
                defaults={
                    "provider_class": item.provider_class,
                    "host": item.host,
                    "port": item.port,
                    "username": item.username,
                    "password": item.password,
                    "options": item.options,
                    "allowed_scopes": item.allowed_scopes,
                    "description": item.description,
                    "is_default": item.is_default,
                    "enabled": True,
                    "source": Provider.Source.ENVIRONMENT,
                },
            )
            synced.append(provider)
            _probe_after_commit(provider)
        stale = Provider.objects.filter(source=Provider.Source.ENVIRONMENT, enabled=True).exclude(
            key__in=[item.key for item in declared]
        )
        for provider in stale:
            provider.enabled = False
            provider.save(update_fields=["enabled", "updated_at"])
        keys = ", ".join(p.key for p in synced) or "none"
        record("system", "provider.sync", AuditEntry.Outcome.SUCCESS, message=f"declared: {keys}")
    return synced


def _parse_declaration(entry: dict[str, Any]) -> DeclaredProvider:
    if not isinstance(entry, dict) or not entry.get("key"):
        raise InvalidInput("each RM_PROVIDERS entry needs a 'key'")
    options = dict(entry.get("options") or {})
    if entry.get("url"):
        url = urlsplit(entry["url"])
        provider_class = entry.get("class") or _URL_SCHEMES.get(url.scheme, url.scheme)
        adapter = _adapter_or_error(provider_class, entry["key"])
        path = unquote(url.path.lstrip("/"))
        if path and adapter.url_path_option:
            options.setdefault(adapter.url_path_option, path)
        options.update(dict(parse_qsl(url.query)))
        host, port = url.hostname or "127.0.0.1", url.port or adapter.default_port
        username, password = unquote(url.username or ""), unquote(url.password or "")
    else:
        provider_class = entry.get("class", "")
        adapter = _adapter_or_error(provider_class, entry["key"])
        host = entry.get("host", "127.0.0.1")
        port = int(entry.get("port") or adapter.default_port)
        username, password = entry.get("username", ""), entry.get("password", "")
    try:
        valid = {"host": validate_host(host), "port": validate_port(port),
                 "options": validate_options(provider_class, options),
                 "allowed_scopes": validate_allowed_scopes(entry.get("allowed_scopes") or [])}
    except InvalidInput as exc:
        raise InvalidInput(f"provider {entry['key']!r}: {exc.message}") from None
    return DeclaredProvider(
        key=entry["key"],
        provider_class=provider_class,
        username=username,
        password=password,
        **valid,
        description=entry.get("description", ""),
        is_default=bool(entry.get("default", False)),
    )


def _adapter_or_error(provider_class: str, key: str):
    try:
        return registry.adapter_class(provider_class)
    except LookupError:
        raise InvalidInput(f"provider {key!r}: unknown class {provider_class!r}") from None
