"""Ready-to-paste connection snippets for a resource's credentials, per provider family.

Every value from the credentials goes into a shell command through ``shlex.quote`` and
into Python code as a ``repr`` literal, so no password, name or host, whatever its
characters, can end the quoting and run something else. Shell snippets pass passwords in
environment variables rather than arguments, which other users of a machine can list.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, replace
from urllib.parse import urlsplit, urlunsplit

from providers.adapters.base import Credentials, ProviderAdapter, ProviderError
from providers.adapters.mongodb import MongoDBAdapter
from providers.adapters.mysql import MySQLAdapter
from providers.adapters.postgresql import PostgreSQLAdapter
from providers.adapters.s3 import S3Adapter

#: What stands for a secret until the user asks to see it.
MASK = "********"


@dataclass(frozen=True)
class Snippet:
    label: str
    language: str  # "shell" or "python"
    text: str


@dataclass(frozen=True)
class ShownValue:
    """One copyable value of a page. ``secret`` ones are masked on the resource's page and
    sent by its credentials view only when the user asks to see or copy them."""

    id: str  # the element's id, shared by the page and the credentials view
    label: str
    value: str
    secret: bool = False
    lines: int = 1


def shown_values(
    adapter: ProviderAdapter, credentials: Credentials
) -> tuple[list[ShownValue], list[ShownValue]]:
    """The connection fields and the snippets of ``credentials``, as given (mask them
    first to keep the secrets out)."""
    labels = field_labels(adapter)
    fields = [
        ShownValue("rm-host", "Host", credentials.host),
        ShownValue("rm-port", "Port", str(credentials.port)),
        ShownValue("rm-database", labels["database"], credentials.database),
        ShownValue("rm-username", labels["username"], credentials.username),
        ShownValue("rm-password", labels["password"], credentials.password, secret=True),
        ShownValue("rm-uri", "Connection URI", credentials.uri, secret=True),
    ]
    snippets = [
        ShownValue(f"rm-snippet-{number}", snippet.label, snippet.text, secret=True,
                   lines=snippet.text.count("\n") + 1)
        for number, snippet in enumerate(snippets_for(adapter, credentials))
    ]
    return fields, snippets


def masked(credentials: Credentials) -> Credentials:
    """The same credentials with the password, in the URI too, replaced by ``MASK``."""
    if not credentials.password:
        return credentials
    return replace(credentials, password=MASK, uri=_masked_uri(credentials.uri))


def _masked_uri(uri: str) -> str:
    parts = urlsplit(uri)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return uri
    username = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{username}:{MASK}@{hostport}"))


def field_labels(adapter: ProviderAdapter) -> dict[str, str]:
    """What the ``database``, ``username`` and ``password`` fields are on this backend."""
    if isinstance(adapter, S3Adapter):
        return {"database": "Bucket", "username": "Access key ID",
                "password": "Secret access key"}
    return {"database": adapter.object_noun.capitalize(), "username": "Username",
            "password": "Password"}


def snippets_for(adapter: ProviderAdapter, credentials: Credentials) -> list[Snippet]:
    """The snippets of ``adapter``'s family (none for a class this module does not know)."""
    if isinstance(adapter, PostgreSQLAdapter):  # also CockroachDB, YugabyteDB
        return _postgresql(credentials)
    if isinstance(adapter, MySQLAdapter):  # also TiDB
        return _mysql(credentials)
    if isinstance(adapter, MongoDBAdapter):
        return _mongodb(credentials)
    if isinstance(adapter, S3Adapter):
        return _s3(adapter, credentials)
    return []


def _shell(*words: str) -> str:
    return " ".join(shlex.quote(word) for word in words)


def _env(**variables: object) -> str:
    return " ".join(f"{name}={shlex.quote(str(value))}" for name, value in variables.items())


def _postgresql(c: Credentials) -> list[Snippet]:
    # Environment variables, not -d: psql reads a dbname holding "=" as a connection string.
    shell = _env(PGHOST=c.host, PGPORT=c.port, PGUSER=c.username, PGDATABASE=c.database,
                 PGPASSWORD=c.password) + " psql"
    python = (
        "import psycopg\n\n"
        f"with psycopg.connect(host={c.host!r}, port={int(c.port)!r}, user={c.username!r},\n"
        f"                     password={c.password!r}, dbname={c.database!r}) as conn:\n"
        '    print(conn.execute("SELECT current_database()").fetchone())\n'
    )
    return [Snippet("psql", "shell", shell), Snippet("Python (psycopg)", "python", python)]


def _mysql(c: Credentials) -> list[Snippet]:
    shell = _env(MYSQL_PWD=c.password) + " " + _shell(
        "mysql", "--protocol=tcp", f"--host={c.host}", f"--port={int(c.port)}",
        f"--user={c.username}", f"--database={c.database}",
    )
    python = (
        "import pymysql\n\n"
        f"conn = pymysql.connect(host={c.host!r}, port={int(c.port)!r}, user={c.username!r},\n"
        f"                       password={c.password!r}, database={c.database!r})\n"
        "with conn.cursor() as cursor:\n"
        '    cursor.execute("SELECT DATABASE()")\n'
        "    print(cursor.fetchone())\n"
    )
    return [Snippet("mysql client", "shell", shell), Snippet("Python (PyMySQL)", "python", python)]


def _mongodb(c: Credentials) -> list[Snippet]:
    # The URI carries what the client needs besides the password (authSource, tls, ...).
    python = (
        "from pymongo import MongoClient\n\n"
        f"client = MongoClient({c.uri!r})\n"
        f"print(client[{c.database!r}].list_collection_names())\n"
    )
    return [Snippet("mongosh", "shell", _shell("mongosh", c.uri)),
            Snippet("Python (pymongo)", "python", python)]


def _s3(adapter: S3Adapter, c: Credentials) -> list[Snippet]:
    try:
        scheme, region = urlsplit(adapter.endpoint).scheme, adapter.region
    except ProviderError:  # a malformed instance option: assume the usual
        scheme, region = "https", "us-east-1"
    host = f"[{c.host}]" if ":" in c.host else c.host
    endpoint = f"{scheme}://{host}:{int(c.port)}"
    shell = "\n".join([
        f"export {_env(AWS_ACCESS_KEY_ID=c.username)}",
        f"export {_env(AWS_SECRET_ACCESS_KEY=c.password)}",
        f"export {_env(AWS_DEFAULT_REGION=region)}",
        _shell("aws", "--endpoint-url", endpoint, "s3", "ls", f"s3://{c.database}/"),
    ])
    python = (
        "import boto3\n\n"
        "s3 = boto3.client(\n"
        f'    "s3", endpoint_url={endpoint!r}, region_name={region!r},\n'
        f"    aws_access_key_id={c.username!r}, aws_secret_access_key={c.password!r},\n"
        ")\n"
        f'print(s3.list_objects_v2(Bucket={c.database!r}).get("Contents", []))\n'
    )
    return [Snippet("AWS CLI", "shell", shell), Snippet("Python (boto3)", "python", python)]
