"""The SCRAM-SHA-256 verifiers the PostgreSQL adapter stores: the server, checking
passwords, accepts the password and refuses any other."""

from __future__ import annotations

import secrets

import psycopg
import pytest
from psycopg import sql

from providers.adapters import scram
from providers.adapters.naming import new_password
from tests.support.pgcluster import ScramCluster


@pytest.fixture
def role(scram_cluster: ScramCluster):
    name = f"rmtest_scram_{secrets.token_hex(4)}"
    yield name
    with scram_cluster.superuser_connect() as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def log_in(cluster: ScramCluster, user: str, password: str) -> None:
    psycopg.connect(host=cluster.host, port=cluster.port, user=user, password=password,
                    dbname="postgres", connect_timeout=5).close()


@pytest.mark.parametrize("password", [None, "p a$s:w~o'r\"d\\1"], ids=["generated", "printable"])
def test_the_server_accepts_the_password_of_a_verifier_and_refuses_another(
        scram_cluster: ScramCluster, role: str, password: str | None):
    password = password or new_password()
    made = scram.verifier(password)
    assert made is not None and made.startswith("SCRAM-SHA-256$4096:")
    assert password not in made
    with scram_cluster.superuser_connect() as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}")
                     .format(sql.Identifier(role), sql.Literal(made)))
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s",
                              (role,)).fetchone()[0]
    assert stored == made  # kept as given, not hashed again

    log_in(scram_cluster, role, password)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        log_in(scram_cluster, role, password + "x")


def test_each_verifier_has_its_own_salt():
    assert scram.verifier("same-password") != scram.verifier("same-password")


@pytest.mark.parametrize("password", ["pässword", "pass\u00a0word", "tab\tbed"])
def test_a_password_sasl_prep_could_change_is_left_to_libpq(password: str):
    assert scram.verifier(password) is None
