"""Connection snippets: odd characters in a credential never break out of the quoting.

The shell snippets are run by bash with fake ``psql``, ``mysql``, ``mongosh`` and ``aws``
first on the PATH, which print the arguments and variables they were given: the values
arrive whole, and nothing else runs. The Python snippets are parsed, and the arguments
of their calls evaluated as literals.
"""

from __future__ import annotations

import ast
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from providers.adapters.base import Credentials, InstanceConfig
from providers.adapters.mongodb import MongoDBAdapter
from providers.adapters.mysql import MySQLAdapter, TiDBAdapter
from providers.adapters.postgresql import PostgreSQLAdapter
from providers.adapters.postgresql_dialects import CockroachDBAdapter, YugabyteDBAdapter
from providers.adapters.s3 import S3Adapter
from resourcemanager.ui.snippets import MASK, masked, snippets_for

HOSTILE = [
    "plain-Passw0rd",
    "it's; rm -rf \"$HOME\" `id` $(id) #",
    "new\nline\ttab\\back",
    "--help",
    "ünïcødé ☃ \u2028",
    "'",
    "",
]

FAKE_TOOL = """#!{python}
import json, os, sys
names = ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "MYSQL_PWD",
         "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
print(json.dumps({{"argv": sys.argv[1:],
                  "env": {{n: os.environ[n] for n in names if n in os.environ}}}}))
"""


@pytest.fixture(scope="module")
def fake_tools(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bin")
    for tool in ("psql", "mysql", "mongosh", "aws"):
        path = folder / tool
        path.write_text(FAKE_TOOL.format(python=sys.executable))
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def run_shell(snippet: str, tools: Path, tmp_path: Path) -> dict:
    """Run ``snippet`` with only the fake tools and the shell's builtins on the PATH."""
    canary = tmp_path / "pwned"
    result = subprocess.run(
        ["bash", "-c", snippet], capture_output=True, text=True, timeout=10,
        env={"PATH": f"{tools}:/usr/bin:/bin", "HOME": str(canary)},
    )
    assert result.returncode == 0, result.stderr
    assert not canary.exists()
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout  # the tool ran once, and nothing else printed
    return json.loads(lines[0])


def adapter(cls, **options):
    return cls(InstanceConfig("db.internal", 1, "admin", "x", options=options))


def credentials(password: str, *, name: str = "rm_abc123def456", host: str = "db.example",
                port: int = 5432, scheme: str = "postgresql") -> Credentials:
    return Credentials(name, password, host=host, port=port, database=name,
                       uri=f"{scheme}://{name}:{password}@{host}:{port}/{name}")


def call_of(code: str, name: str) -> tuple[list[object], dict[str, object]]:
    """The literal arguments of the call of ``name`` (a function or method) in ``code``."""
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call):
            called = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if called == name:
                return ([ast.literal_eval(arg) for arg in node.args],
                        {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords})
    raise AssertionError(f"no call of {name} in {code}")


@pytest.mark.parametrize("password", HOSTILE)
@pytest.mark.parametrize("cls", [PostgreSQLAdapter, CockroachDBAdapter, YugabyteDBAdapter])
def test_postgresql_snippets_keep_every_value_whole(cls, password, fake_tools, tmp_path):
    given = credentials(password, name="odd name=x'y", host="h'ost;")
    shell, python = snippets_for(adapter(cls), given)

    assert shell.label == "psql"
    ran = run_shell(shell.text, fake_tools, tmp_path)
    assert ran["argv"] == []
    assert ran["env"] == {"PGHOST": "h'ost;", "PGPORT": "5432", "PGUSER": "odd name=x'y",
                          "PGDATABASE": "odd name=x'y", "PGPASSWORD": password}
    assert python.label == "Python (psycopg)"
    assert call_of(python.text, "connect") == ([], {
        "host": "h'ost;", "port": 5432, "user": "odd name=x'y", "password": password,
        "dbname": "odd name=x'y",
    })


@pytest.mark.parametrize("password", HOSTILE)
@pytest.mark.parametrize("cls", [MySQLAdapter, TiDBAdapter])
def test_mysql_snippets_keep_every_value_whole(cls, password, fake_tools, tmp_path):
    given = credentials(password, name="-rm `x`", port=3306, scheme="mysql")
    shell, python = snippets_for(adapter(cls), given)

    assert shell.label == "mysql client"
    ran = run_shell(shell.text, fake_tools, tmp_path)
    assert ran["argv"] == ["--protocol=tcp", "--host=db.example", "--port=3306",
                           "--user=-rm `x`", "--database=-rm `x`"]
    assert ran["env"] == {"MYSQL_PWD": password}
    assert call_of(python.text, "connect") == ([], {
        "host": "db.example", "port": 3306, "user": "-rm `x`", "password": password,
        "database": "-rm `x`",
    })


@pytest.mark.parametrize("password", HOSTILE)
def test_mongodb_snippets_keep_the_uri_whole(password, fake_tools, tmp_path):
    given = credentials(password, port=27017, scheme="mongodb")
    uri = f"{given.uri}?authSource={given.database}"
    given = Credentials(given.username, password, given.host, given.port, given.database, uri)
    shell, python = snippets_for(adapter(MongoDBAdapter), given)

    assert run_shell(shell.text, fake_tools, tmp_path)["argv"] == [uri]
    assert call_of(python.text, "MongoClient") == ([uri], {})


@pytest.mark.parametrize("password", HOSTILE)
def test_s3_snippets_pass_the_key_in_variables(password, fake_tools, tmp_path):
    given = Credentials("AKIA'$(id)", password, host="s3.example", port=9000,
                        database="rm-abc123def456", uri="s3://ignored")
    plain = adapter(S3Adapter, secure=False, region="eu-west-3")
    shell, python = snippets_for(plain, given)

    ran = run_shell(shell.text, fake_tools, tmp_path)
    assert ran["argv"] == ["--endpoint-url", "http://s3.example:9000", "s3", "ls",
                           "s3://rm-abc123def456/"]
    assert ran["env"] == {"AWS_ACCESS_KEY_ID": "AKIA'$(id)", "AWS_SECRET_ACCESS_KEY": password,
                          "AWS_DEFAULT_REGION": "eu-west-3"}
    assert call_of(python.text, "client") == (["s3"], {
        "endpoint_url": "http://s3.example:9000", "region_name": "eu-west-3",
        "aws_access_key_id": "AKIA'$(id)", "aws_secret_access_key": password,
    })
    assert call_of(python.text, "list_objects_v2") == ([], {"Bucket": "rm-abc123def456"})


def test_s3_endpoints_are_https_unless_the_instance_says_otherwise():
    given = Credentials("AKIA", "secret", host="s3.example", port=443, database="b", uri="s3://")
    shell, _ = snippets_for(adapter(S3Adapter), given)
    assert "--endpoint-url https://s3.example:443 " in shell.text


def test_masking_hides_the_password_everywhere():
    given = credentials("s3cr3t-value", scheme="postgresql")
    hidden = masked(given)

    assert hidden.password == MASK
    assert hidden.uri == f"postgresql://{given.username}:{MASK}@db.example:5432/{given.username}"
    for snippet in snippets_for(adapter(PostgreSQLAdapter), hidden):
        assert "s3cr3t-value" not in snippet.text
        assert MASK in snippet.text


def test_the_fake_tools_really_see_their_environment(fake_tools, tmp_path):
    """A guard for the tests above: without quoting, a value would change what runs."""
    ran = run_shell("PGPASSWORD=a psql b", fake_tools, tmp_path)
    assert ran == {"argv": ["b"], "env": {"PGPASSWORD": "a"}}
