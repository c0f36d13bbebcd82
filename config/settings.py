"""Settings, read from the environment (12-factor). Every variable is listed in
docs/operations.md."""

import contextlib
import ipaddress
import os
import secrets
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from audit import sinks as audit_sinks
from audit.signing import new_private_key as new_audit_signing_key
from resourcemanager.telemetry import logs

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
DATA_DIR = Path(env.str("RM_DATA_DIR", default=str(BASE_DIR / "data")))


def _secret(name: str, dev_file: str, generate: Callable[[], str]) -> str:
    """Read a secret from the environment; in DEBUG mode make one under DATA_DIR once."""
    value = env.str(name, default="")
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(
            f"{name} is not set. Set it in the environment (see docs/operations.md), or run "
            "with DEBUG=true to use generated development secrets."
        )
    path = DATA_DIR / dev_file
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{dev_file}.{os.getpid()}")
        draft.touch(mode=0o600)
        draft.write_text(generate())
        with contextlib.suppress(FileExistsError):  # another process was first: use its
            os.link(draft, path)
        draft.unlink()
    return path.read_text().strip()


SECRET_KEY = _secret("SECRET_KEY", "secret_key", lambda: secrets.token_urlsafe(50))
# Previous keys still accepted for sessions and signed values while a new one rolls out.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
RM_ENCRYPTION_KEYS = [
    key.strip()
    for key in _secret(
        "RM_ENCRYPTION_KEYS", "encryption_keys", lambda: Fernet.generate_key().decode()
    ).split(",")
    if key.strip()
]
for _key in RM_ENCRYPTION_KEYS:
    try:
        Fernet(_key.encode())
    except ValueError:
        raise ImproperlyConfigured(
            "RM_ENCRYPTION_KEYS must hold Fernet keys (32 url-safe base64-encoded bytes); make "
            'one with: python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"'
        ) from None

# --- Keys of the data keys (README "Encryption at rest") -------------------------------
# Each scope's secrets are under a data key of its own, stored wrapped by the KMS's KEK:
# local (RM_ENCRYPTION_KEYS), aws (AWS KMS) or vault (a Vault transit engine).
RM_KMS = env.str("RM_KMS", default="local")
if RM_KMS not in ("local", "aws", "vault"):
    raise ImproperlyConfigured("RM_KMS must be local, aws or vault")
RM_KMS_AWS_KEY_ID = env.str("RM_KMS_AWS_KEY_ID", default="")
RM_KMS_AWS_REGION = env.str("RM_KMS_AWS_REGION", default="")
RM_KMS_AWS_ENDPOINT_URL = env.str("RM_KMS_AWS_ENDPOINT_URL", default="")
RM_KMS_VAULT_URL = env.str("RM_KMS_VAULT_URL", default="")
RM_KMS_VAULT_TOKEN = env.str("RM_KMS_VAULT_TOKEN", default="")
RM_KMS_VAULT_MOUNT = env.str("RM_KMS_VAULT_MOUNT", default="transit")
RM_KMS_VAULT_KEY = env.str("RM_KMS_VAULT_KEY", default="resourcemanager")
if RM_KMS == "aws" and not RM_KMS_AWS_KEY_ID:
    raise ImproperlyConfigured("RM_KMS=aws needs RM_KMS_AWS_KEY_ID (a key id, ARN or alias)")
if RM_KMS == "vault" and not (RM_KMS_VAULT_URL and RM_KMS_VAULT_TOKEN):
    raise ImproperlyConfigured("RM_KMS=vault needs RM_KMS_VAULT_URL and RM_KMS_VAULT_TOKEN")
# Seconds to connect to the KMS, and to wait for each answer.
RM_KMS_TIMEOUT = env.float("RM_KMS_TIMEOUT", default=5.0)
# Unwrapped data keys kept in each process, and for how long before their row is checked
# again (a destroyed key stops decrypting in every process within that time).
RM_KMS_CACHE_SIZE = env.int("RM_KMS_CACHE_SIZE", default=1000)
RM_KMS_CACHE_SECONDS = env.int("RM_KMS_CACHE_SECONDS", default=300)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS and cookies (README "Production settings") ---------------------------------
# Cookies travel over HTTPS only, unless in DEBUG or a plain-HTTP trial says otherwise.
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
# Probes and scrapers talking plain HTTP to the pod are answered before any redirect
# (config.health.ProbeMiddleware).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])
if env.bool("RM_BEHIND_TLS_PROXY", default=False):
    # Only behind a proxy that sets this header itself, whatever the client sent.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "resourcemanager.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc as static files, no CDN
    "resourcemanager",
    "providers",
    "consumers",
    "audit",
    "axes",  # sign-in lockout (see "Brute-force protection" below)
]

MIDDLEWARE = [
    # First, so that it counts and times every answer, including other middlewares'.
    "resourcemanager.telemetry.metrics.RequestMetricsMiddleware",
    # Probes and scrapes: answered next, without access-log lines or Host validation.
    "config.health.ProbeMiddleware",
    "resourcemanager.telemetry.middleware.RequestIdMiddleware",
    # Work left until the answer has been delivered (the audit seal, in-process events).
    "resourcemanager.telemetry.after_answer.AfterAnswerMiddleware",
    # Inside the request id (entries carry it); outside every writer of audit entries.
    "audit.middleware.SealOncePerRequestMiddleware",
    # Errors under /api/ in the API's JSON, whichever view (or none) answered.
    "resourcemanager.api.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Answers sign-ins of a locked-out username and address with 429 (django-axes).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {
    # An empty DATABASE_URL means the default, as when it is unset.
    "default": env.db_url_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}"
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    # Web threads and worker processes write at once. WAL lets readers go on while one
    # writes; every transaction takes the write lock when it begins (IMMEDIATE), so none
    # fails upgrading a read to a write; a writer waits up to RM_SQLITE_BUSY_TIMEOUT
    # seconds for the lock instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=env.float("RM_SQLITE_BUSY_TIMEOUT", default=20.0),
        transaction_mode="IMMEDIATE",
        init_command="PRAGMA journal_mode=WAL",
    )
else:
    # Each process (web thread, worker process) keeps its connection for this many seconds
    # (0: one per request or task), checked before reuse: connecting costs more than a task.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=300)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
# Served by the web process itself (whitenoise), compressed, with far-future cache headers
# on content-hashed names; `collectstatic` runs when the image is built.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- REST API -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "resourcemanager.api.authentication.ApiTokenAuthentication",
        "resourcemanager.api.authentication.OIDCBearerAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # The API takes JSON only, as it documents: a form-encoded or multipart body is a 415
    # (unsupported_media_type), never parsed into something the caller did not mean. The
    # browsable API then offers its raw JSON form only.
    "DEFAULT_PARSER_CLASSES": ["resourcemanager.api.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "resourcemanager.api.pagination.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "resourcemanager.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "resourcemanager API",
    "DESCRIPTION": (
        "Databases and buckets for many tenants on shared servers. Every route also exists "
        "under /api/c/{scope}/; the X-Scope header selects the scope otherwise."
    ),
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies get components of their own (…Request), in which required strings say
    # minLength: 1 and read-only fields are absent.
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc from the app's static files (drf-spectacular-sidecar), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every operation's refusals, in the one JSON error body.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "resourcemanager.api.schema_errors.add_error_responses"],
    "ENUM_NAME_OVERRIDES": {
        "ResourceStatusEnum": "resourcemanager.resources.models.Resource.Status",
        "CredentialStatusEnum": "resourcemanager.resources.models.Credential.Status",
        # A credential's access, and the access of a consumer's own logins.
        "AccessEnum": "resourcemanager.resources.models.Credential.Access",
        # A backup's and a restore's.
        "RunStatusEnum": "resourcemanager.backups.models.RunStatus",
    },
}

# --- Tasks ----------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"  # in-process; named to keep kombu quiet
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery closes the app-database connection around every task unless this is set (it
# then closes it every this many tasks); config/celery.py applies CONN_MAX_AGE instead.
CELERY_DB_REUSE_MAX = 10_000
# Keep the LOGGING below (request ids on every line) in worker processes too.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A message whose worker died unacknowledged is handed out again after this many seconds.
RM_TASK_VISIBILITY_TIMEOUT = env.int("RM_TASK_VISIBILITY_TIMEOUT", default=600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": RM_TASK_VISIBILITY_TIMEOUT,
    # Look for such messages every 10 s (kombu's default scans only every 100 s).
    "unacked_restore_interval": 10,
    "unacked_restore_throttle": 1,
    # Fail fast when Redis is down: the outbox keeps the message for the next relay.
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    # A list per priority (kombu's default steps), the lowest number taken first
    # (queueing.BULK_PRIORITY).
    "priority_steps": [0, 3, 6, 9],
}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5}
# Transient backend failures: retries with exponential backoff, then a terminal error.
RM_TASK_MAX_RETRIES = env.int("RM_TASK_MAX_RETRIES", default=5)
RM_TASK_RETRY_BACKOFF = env.int("RM_TASK_RETRY_BACKOFF", default=5)
RM_TASK_RETRY_BACKOFF_MAX = env.int("RM_TASK_RETRY_BACKOFF_MAX", default=300)
# Deliveries to consumers that failed transiently (tool unreachable, 5xx): the same scheme.
RM_CONSUMER_MAX_RETRIES = env.int("RM_CONSUMER_MAX_RETRIES", default=8)
RM_CONSUMER_RETRY_BACKOFF = env.int("RM_CONSUMER_RETRY_BACKOFF", default=10)
RM_CONSUMER_RETRY_BACKOFF_MAX = env.int("RM_CONSUMER_RETRY_BACKOFF_MAX", default=600)
# A consumer whose deliveries fail transiently this many times in a row is paused, with
# the same backoff, so that it does not hold the workers (consumers.breaker).
RM_CONSUMER_BREAKER_FAILURES = max(1, env.int("RM_CONSUMER_BREAKER_FAILURES", default=5))
# A worker process waits this many seconds for a drain of a consumer's deliveries; a
# slower one goes on in one of its RM_CONSUMER_DRAIN_THREADS threads while the process
# takes its next task (consumers.background).
RM_CONSUMER_DRAIN_WAIT = max(0.0, env.float("RM_CONSUMER_DRAIN_WAIT", default=0.5))
RM_CONSUMER_DRAIN_THREADS = max(1, env.int("RM_CONSUMER_DRAIN_THREADS", default=4))
# Seconds a drain asked for by new deliveries waits before it starts, so that the
# deliveries of the events meanwhile go in its batch instead of a drain each.
RM_CONSUMER_DRAIN_DELAY = max(0.0, env.float("RM_CONSUMER_DRAIN_DELAY", default=0.1))
# Networks consumer requests (webhooks, tools) may not reach; the allowed list wins.
RM_CONSUMER_BLOCKED_NETWORKS = env.list(
    "RM_CONSUMER_BLOCKED_NETWORKS",
    default=[
        "127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10", "0.0.0.0/8", "::/128",
        # Cloud metadata services outside link-local: AWS over IPv6, Alibaba Cloud.
        "fd00:ec2::254/128", "100.100.100.200/32",
    ],
)
# In DEBUG (the quick start) a webhook or tool on this machine is reachable unless this
# variable is set (even empty); the start-up log says so (resourcemanager.apps).
RM_CONSUMER_ALLOWED_NETWORKS = env.list(
    "RM_CONSUMER_ALLOWED_NETWORKS", default=["127.0.0.0/8", "::1/128"] if DEBUG else []
)


def _check_networks(names: str, networks: list[str]) -> None:
    for network in networks:
        try:
            ipaddress.ip_network(network.strip(), strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{names}: {network!r} is not a network such as 10.0.0.0/8 or fd00::/8"
            ) from None


_check_networks("RM_CONSUMER_BLOCKED_NETWORKS / RM_CONSUMER_ALLOWED_NETWORKS",
                [*RM_CONSUMER_BLOCKED_NETWORKS, *RM_CONSUMER_ALLOWED_NETWORKS])
# Upper bounds (seconds) of every consumer request's connect and read timeouts; a
# consumer's own `timeout` property may only shorten the read timeout.
RM_CONSUMER_CONNECT_TIMEOUT = env.float("RM_CONSUMER_CONNECT_TIMEOUT", default=5.0)
RM_CONSUMER_READ_TIMEOUT = env.float("RM_CONSUMER_READ_TIMEOUT", default=30.0)
# The CA bundle consumer requests verify TLS with, named as requests names it; read here,
# once, as consumer requests do not read the environment per request. Empty: certifi's.
RM_CONSUMER_CA_BUNDLE = env.str("REQUESTS_CA_BUNDLE", default="") or env.str(
    "CURL_CA_BUNDLE", default="")
# Operations still creating/deleting/pending after this many seconds are run again.
RM_OPERATION_TIMEOUT = env.int("RM_OPERATION_TIMEOUT", default=900)
# Credentials: the longest ttl a request may ask for (seconds; 0: no ceiling), how long a
# login replaced by a rotation stays valid unless the request says otherwise, and how
# often expired ones are revoked, replaced logins dropped and scheduled rotations started.
RM_CREDENTIAL_MAX_TTL = env.int("RM_CREDENTIAL_MAX_TTL", default=90 * 24 * 3600)
RM_CREDENTIAL_ROTATION_GRACE = env.int("RM_CREDENTIAL_ROTATION_GRACE", default=300)
RM_CREDENTIAL_SWEEP_INTERVAL = env.float("RM_CREDENTIAL_SWEEP_INTERVAL", default=60.0)
# A resource frozen over a size limit is lifted once it (and its scope) hold less than
# this share of the limit, so that one sweep does not undo the last one's freeze.
RM_QUOTA_UNFREEZE_RATIO = env.float("RM_QUOTA_UNFREEZE_RATIO", default=0.9)
RM_OUTBOX_RELAY_INTERVAL = env.float("RM_OUTBOX_RELAY_INTERVAL", default=10.0)
RM_OUTBOX_RETENTION_DAYS = env.int("RM_OUTBOX_RETENTION_DAYS", default=7)
# Callables (dotted paths) that receive every resource event from the outbox.
RM_EVENT_HANDLERS = env.list(
    "RM_EVENT_HANDLERS",
    default=["resourcemanager.outbox.events.log_event", "consumers.deliveries.fan_out"],
)
RM_CHECK_INTERVAL = env.float("RM_CHECK_INTERVAL", default=3600.0)
#: Seconds between two runs of the backup sweep: scheduled backups due, expired ones removed.
RM_BACKUP_SWEEP_INTERVAL = env.float("RM_BACKUP_SWEEP_INTERVAL", default=300.0)
RM_PROVIDER_PROBE_INTERVAL = env.float("RM_PROVIDER_PROBE_INTERVAL", default=60.0)
# --- Audit trail (docs/audit.md) -------------------------------------------------------
# The Ed25519 key that signs checkpoints (PEM, or base64 of the 32 raw bytes), kept apart
# from the database. In DEBUG one is made under RM_DATA_DIR; otherwise, unset, checkpoints
# are not signed and verify_audit says so.
RM_AUDIT_SIGNING_KEY = env.str("RM_AUDIT_SIGNING_KEY", default="") or (
    _secret("RM_AUDIT_SIGNING_KEY", "audit_signing_key", new_audit_signing_key)
    if DEBUG else "")
# Public keys verify_audit also accepts (checkpoints signed by earlier keys).
RM_AUDIT_VERIFY_KEY = env.list("RM_AUDIT_VERIFY_KEY", default=[])
RM_AUDIT_CHECKPOINT_INTERVAL = env.float("RM_AUDIT_CHECKPOINT_INTERVAL", default=300.0)
# A process seals the audit entries of its commits at most once per this many seconds; the
# entries between wait for the next seal, at the latest the sealing sweep's (as often).
# Without Redis no beat sweeps: every commit seals its own.
RM_AUDIT_SEAL_INTERVAL = env.float("RM_AUDIT_SEAL_INTERVAL", default=2.0 if REDIS_URL else 0.0)
# Where the trail is sent as JSON lines: syslog://host:port (UDP), syslog+tcp://host:port,
# https://… (POST); unset: nowhere. Its bearer token, how often and how long to wait.
RM_AUDIT_SINK = env.str("RM_AUDIT_SINK", default="")
RM_AUDIT_SINK_TOKEN = env.str("RM_AUDIT_SINK_TOKEN", default="")
RM_AUDIT_SINK_INTERVAL = env.float("RM_AUDIT_SINK_INTERVAL", default=10.0)
RM_AUDIT_SINK_TIMEOUT = env.float("RM_AUDIT_SINK_TIMEOUT", default=10.0)
if RM_AUDIT_SINK:
    try:
        audit_sinks.check(RM_AUDIT_SINK)
    except ValueError as exc:
        raise ImproperlyConfigured(f"RM_AUDIT_SINK: {exc}") from None

CELERY_BEAT_SCHEDULE = {
    "relay-outbox": {
        "task": "resourcemanager.relay_outbox",
        "schedule": RM_OUTBOX_RELAY_INTERVAL,
    },
    "sweep-stuck-operations": {
        "task": "resourcemanager.sweep_stuck_operations",
        "schedule": max(RM_OPERATION_TIMEOUT / 4, 10.0),
    },
    "sweep-credentials": {
        "task": "resourcemanager.sweep_credentials",
        "schedule": RM_CREDENTIAL_SWEEP_INTERVAL,
    },
    "check-resources": {"task": "providers.sweep_checks", "schedule": RM_CHECK_INTERVAL},
    "sweep-backups": {"task": "resourcemanager.sweep_backups",
                      "schedule": RM_BACKUP_SWEEP_INTERVAL},
    "probe-providers": {"task": "providers.probe", "schedule": RM_PROVIDER_PROBE_INTERVAL},
    "requeue-stalled-deliveries": {
        "task": "consumers.requeue_stalled",
        "schedule": max(RM_OPERATION_TIMEOUT / 4, 10.0),
    },
    "audit-sweep": {"task": "audit.sweep", "schedule": RM_AUDIT_CHECKPOINT_INTERVAL},
    "audit-seal": {"task": "audit.seal", "schedule": max(RM_AUDIT_SEAL_INTERVAL, 1.0)},
    **({"audit-ship": {"task": "audit.ship", "schedule": RM_AUDIT_SINK_INTERVAL}}
       if RM_AUDIT_SINK else {}),
}

# --- Scopes and providers -------------------------------------------------------------
RM_DEFAULT_SCOPE = env.str("RM_DEFAULT_SCOPE", default="default")
RM_SCOPE_LIST = env.list("RM_SCOPE_LIST", default=[])
try:
    RM_PROVIDERS = env.json("RM_PROVIDERS", default=[])
except ValueError as exc:
    raise ImproperlyConfigured(f"RM_PROVIDERS is not valid JSON: {exc}") from None
RM_PROVIDER_POSTGRESQL_URL = env.str("RM_PROVIDER_POSTGRESQL_URL", default="")
RM_PROVIDER_MYSQL_URL = env.str("RM_PROVIDER_MYSQL_URL", default="")
RM_PROVIDER_MONGODB_URL = env.str("RM_PROVIDER_MONGODB_URL", default="")
RM_PROVIDER_S3_URL = env.str("RM_PROVIDER_S3_URL", default="")
RM_PROVIDER_CONNECT_TIMEOUT = env.int("RM_PROVIDER_CONNECT_TIMEOUT", default=5)
#: Bounds every backend statement or request, so an operation's run never hangs on a server.
RM_PROVIDER_READ_TIMEOUT = env.int("RM_PROVIDER_READ_TIMEOUT", default=120)
RM_API_TOKEN_DEFAULT_DAYS = env.int("RM_API_TOKEN_DEFAULT_DAYS", default=90)

# --- Backups of resources -------------------------------------------------------------
#: The S3 bucket backups go to: s3://KEYID:SECRET@host:port/bucket/prefix?secure=false;
#: empty: BACKUP and RESTORE answer that backups are not configured.
RM_BACKUP_STORE_URL = env.str("RM_BACKUP_STORE_URL", default="")
#: MiB per part of a backup's multipart upload (at least 5); a few are in memory at once.
RM_BACKUP_PART_SIZE = max(env.int("RM_BACKUP_PART_SIZE_MB", default=8), 5) * 1024 * 1024
#: The largest dump a tenant may upload by IMPORT, in MiB.
RM_BACKUP_IMPORT_MAX_BYTES = env.int("RM_BACKUP_IMPORT_MAX_MB", default=2048) * 1024 * 1024
#: Seconds an export link (POST …/export) downloads its dump without credentials.
RM_EXPORT_LINK_SECONDS = min(max(env.int("RM_EXPORT_LINK_SECONDS", default=300), 1), 86400)

# --- Sign-in: local accounts and an OpenID Connect provider ---------------------------
RM_LOCAL_LOGIN = env.bool("RM_LOCAL_LOGIN", default=True)
OIDC_RP_CLIENT_ID = env.str("OIDC_RP_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_RP_CLIENT_SECRET", default="")
OIDC_OP_ISSUER = env.str("OIDC_OP_ISSUER", default="")
OIDC_OP_DISCOVERY_URL = env.str("OIDC_OP_DISCOVERY_URL", default="")
OIDC_OP_AUTHORIZATION_ENDPOINT = env.str("OIDC_OP_AUTHORIZATION_ENDPOINT", default="")
OIDC_OP_TOKEN_ENDPOINT = env.str("OIDC_OP_TOKEN_ENDPOINT", default="")
OIDC_OP_USER_ENDPOINT = env.str("OIDC_OP_USER_ENDPOINT", default="")
OIDC_OP_JWKS_ENDPOINT = env.str("OIDC_OP_JWKS_ENDPOINT", default="")
OIDC_OP_LOGOUT_ENDPOINT = env.str("OIDC_OP_LOGOUT_ENDPOINT", default="")
OIDC_OP_INTROSPECTION_ENDPOINT = env.str("OIDC_OP_INTROSPECTION_ENDPOINT", default="")
OIDC_RP_SIGN_ALGO = env.str("OIDC_RP_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env.str("OIDC_RP_SCOPES", default="openid email profile")
OIDC_AUTHENTICATION_CALLBACK_URL = "auth-callback"
RM_OIDC_AUDIENCE = env.str("RM_OIDC_AUDIENCE", default="")
RM_OIDC_JWT_ALGORITHMS = env.list("RM_OIDC_JWT_ALGORITHMS", default=["RS256", "ES256", "PS256"])
RM_OIDC_TOKEN_CACHE_SECONDS = env.int("RM_OIDC_TOKEN_CACHE_SECONDS", default=60)
RM_OIDC_JWKS_REFRESH_COOLDOWN = env.int("RM_OIDC_JWKS_REFRESH_COOLDOWN", default=30)
# Every request to the identity provider: seconds to connect, and to wait for an answer.
RM_OIDC_CONNECT_TIMEOUT = env.float("RM_OIDC_CONNECT_TIMEOUT", default=3.0)
RM_OIDC_READ_TIMEOUT = env.float("RM_OIDC_READ_TIMEOUT", default=5.0)
# Opaque tokens at the userinfo endpoint when the provider has no introspection: off, since
# userinfo accepts tokens minted for any client of the provider (no audience check).
RM_OIDC_USERINFO_FALLBACK = env.bool("RM_OIDC_USERINFO_FALLBACK", default=False)
# Personal API tokens of identity-provider users act with the roles of the user's last
# sign-in or accepted access token for this many seconds after it (0: never).
RM_CLAIM_ROLES_MAX_AGE = env.int("RM_CLAIM_ROLES_MAX_AGE", default=SESSION_COOKIE_AGE)
if "none" in (alg.lower() for alg in RM_OIDC_JWT_ALGORITHMS):
    raise ImproperlyConfigured("RM_OIDC_JWT_ALGORITHMS must not allow unsigned tokens")

AUTHENTICATION_BACKENDS = [
    "resourcemanager.identity.lockout.LoginLockoutBackend",
    *(["django.contrib.auth.backends.ModelBackend"] if RM_LOCAL_LOGIN else []),
    *(["resourcemanager.identity.oidc_login.OIDCBackend"] if OIDC_RP_CLIENT_ID else []),
]
# --- Brute-force protection -----------------------------------------------------------
# Password sign-in (admin login page): after RM_LOGIN_FAILURE_LIMIT failures in a row, a
# username is locked out from that address for RM_LOGIN_LOCKOUT_MINUTES (django-axes,
# counted in the database; 0 failures: off). Operators unlock with `axes_reset_username`.
RM_LOGIN_FAILURE_LIMIT = env.int("RM_LOGIN_FAILURE_LIMIT", default=5)
RM_LOGIN_LOCKOUT_MINUTES = env.int("RM_LOGIN_LOCKOUT_MINUTES", default=15)
AXES_ENABLED = RM_LOGIN_FAILURE_LIMIT > 0
AXES_FAILURE_LIMIT = max(RM_LOGIN_FAILURE_LIMIT, 1)
AXES_COOLOFF_TIME = timedelta(minutes=RM_LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # the audit trail records sign-ins
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False
# Failed API authentications (unknown, expired, forged bearer tokens) per client address;
# past this rate every bearer token from there gets 429 until the window has room again.
RM_API_AUTH_FAILURE_RATE = env.str("RM_API_AUTH_FAILURE_RATE", default="20/min")

LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "/admin/"
LOGOUT_REDIRECT_URL = "/admin/"

# --- Roles from identity-provider claims ----------------------------------------------
RM_ROLES_CLAIM = env.str("RM_ROLES_CLAIM", default="roles")
RM_ROLES_PREFIX = env.str("RM_ROLES_PREFIX", default="")
RM_ROLE_MAPPING = {
    role: env.str(f"RM_ROLE_MAPPING_{role}", default=f"resourcemanager/<scope>:ROLE_{role}")
    for role in ("ADMIN", "RESOURCE_ADMIN", "CONSUMER_ADMIN", "USER")
}

# --- Logging --------------------------------------------------------------------------
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured("LOG_FORMAT must be 'plain' or 'json'")
LOGGING = logs.dict_config(env.str("LOG_LEVEL", default="INFO"), LOG_FORMAT)
# One line per request (method, route, status, duration, request id) at INFO.
RM_ACCESS_LOG = env.bool("RM_ACCESS_LOG", default=True)

# --- Metrics (docs/metrics.md) --------------------------------------------------------
# GET /metrics answers scrapers from these networks (the connecting address), and those
# sending "Authorization: Bearer <token>"; with neither set it is open in DEBUG only.
RM_METRICS_TOKEN = env.str("RM_METRICS_TOKEN", default="")
RM_METRICS_ALLOWED_NETWORKS = env.list("RM_METRICS_ALLOWED_NETWORKS", default=[])
_check_networks("RM_METRICS_ALLOWED_NETWORKS", RM_METRICS_ALLOWED_NETWORKS)
# A Celery worker serves its metrics over HTTP on this port (0: not at all).
RM_WORKER_METRICS_PORT = env.int("RM_WORKER_METRICS_PORT", default=0)
