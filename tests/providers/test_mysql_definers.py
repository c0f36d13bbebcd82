"""What a replaced MySQL/MariaDB login defined is handed over to the login that replaced
it, by the least-privilege admin, on the real server: each view, trigger, routine and
event is defined again as it was (its sql_mode, an event's time zone, a trigger's place
among its table's), whatever its name holds, and the replaced login is then dropped, not
kept locked. What cannot be handed over is reported and keeps working."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pymysql
import pytest

from providers.adapters.base import Access, Credentials, Login
from providers.adapters.naming import new_login_name, new_password
from tests.providers.mysql_support import (  # noqa: F401 (fixtures)
    TABLE_ACCESS_DENIED,
    connect,
    mysql_adapter,
    mysql_admin_config,
    mysql_names,
    mysql_resource,
    mysql_root,
)

#: Defined by the login to be replaced (``noted`` writes as its definer). The triggers
#: fire in the order they are listed (``first`` is placed before the others), two of them
#: named with a backtick, a newline and a percent sign.
_OBJECTS = (
    "CREATE TABLE items (note TEXT)",
    "CREATE TABLE log (note TEXT)",
    "CREATE VIEW `odd``\nview %s` AS SELECT note FROM items WITH CHECK OPTION",
    "CREATE TRIGGER `second``\n%s` AFTER INSERT ON items FOR EACH ROW "
    "INSERT INTO log VALUES ('second')",
    "CREATE TRIGGER third AFTER INSERT ON items FOR EACH ROW INSERT INTO log VALUES ('third')",
    "CREATE TRIGGER first AFTER INSERT ON items FOR EACH ROW PRECEDES `second``\n%s` "
    "INSERT INTO log VALUES ('first')",
    "CREATE TRIGGER stamped BEFORE INSERT ON items FOR EACH ROW "
    "SET NEW.note = CONCAT(NEW.note, '!')",
    # Kept by what is defined under it; shown as the server prints it whatever the mode.
    "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES'",
    "CREATE FUNCTION slashed() RETURNS INT DETERMINISTIC RETURN LENGTH('a\\b')",
    "CREATE VIEW slashes AS SELECT LENGTH('a\\b') AS n",
    "CREATE PROCEDURE `odd``\nproc`(OUT n INT) COMMENT 'counts' "
    "BEGIN SELECT COUNT(*) INTO n FROM items; END",
    "CREATE PROCEDURE noted() INSERT INTO log VALUES ('noted')",
    "SET SESSION time_zone = '+05:00'",
    "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 02:00:00' "
    "DO DELETE FROM log",
)
_DEFINERS = (
    "SELECT 'view', TABLE_NAME, DEFINER, NULL FROM information_schema.VIEWS"
    " WHERE TABLE_SCHEMA = %s"
    " UNION ALL SELECT 'trigger', TRIGGER_NAME, DEFINER, SQL_MODE FROM"
    " information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s"
    " UNION ALL SELECT ROUTINE_TYPE, ROUTINE_NAME, DEFINER, SQL_MODE FROM"
    " information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s"
    " UNION ALL SELECT 'event', EVENT_NAME, DEFINER, CONCAT(TIME_ZONE, ' ', STARTS) FROM"
    " information_schema.EVENTS WHERE EVENT_SCHEMA = %s ORDER BY 1, 2")


@pytest.fixture(name="logins")
def replaced_and_heir(adapter, resource) -> Iterator[tuple[Credentials, Credentials]]:
    """An owner-level login that defines ``_OBJECTS``, and one to replace it; the
    resource is deleted afterwards, with its logins."""
    try:
        replaced, heir = (adapter.add_login(resource.database, Login(
            new_login_name(resource.database), new_password(), Access.OWNER)) for _ in "ab")
        with _session(replaced) as cur:
            for statement in _OBJECTS:
                cur.execute(statement)
        yield replaced, heir
    finally:
        adapter.delete(resource.database)


@contextmanager
def _session(credentials: Credentials) -> Iterator[pymysql.cursors.Cursor]:
    with connect(credentials, database=credentials.database) as conn, conn.cursor() as cur:
        yield cur


def _defined(root, database: str) -> list[tuple]:
    root.execute(_DEFINERS, (database,) * 4)
    return list(root.fetchall())


def _assert_working(credentials: Credentials) -> None:
    with _session(credentials) as cur:
        cur.execute("INSERT INTO `odd``\nview %s` VALUES ('through the view')")
        cur.execute("SELECT note FROM log")
        assert cur.fetchall() == (("first",), ("second",), ("third",))
        cur.execute("CALL `odd``\nproc`(@n)")
        cur.execute("SELECT @n, slashed(), n FROM slashes")
        assert cur.fetchone() == (1, 3, 3)
        cur.execute("DELETE FROM items")
        cur.execute("DELETE FROM log")


def test_the_replaced_logins_objects_are_the_heirs_and_it_is_dropped(
    adapter, root, resource, logins
):
    replaced, heir = logins
    before = _defined(root, resource.database)

    left = adapter.hand_over_definitions(resource.database, [replaced.username],
                                         heir.username)
    adapter.remove_login(resource.database, replaced.username)

    assert left == []
    after = _defined(root, resource.database)
    assert [row[:2] + row[3:] for row in after] == [row[:2] + row[3:] for row in before]
    assert {row[2] for row in before} == {f"{replaced.username}@%"}
    assert {row[2] for row in after} == {f"{heir.username}@%"}
    assert len(after) == 10
    _assert_working(heir)
    root.execute("SELECT count(*) FROM mysql.user WHERE User = %s", (replaced.username,))
    assert root.fetchone() == (0,)
    with _session(heir) as cur:  # the heir reads the routines' definitions, so dumps do
        cur.execute("SHOW CREATE PROCEDURE `odd``\nproc`")
        assert "COMMENT 'counts'" in cur.fetchone()[2]


def test_without_set_user_nothing_is_handed_over_and_the_replaced_login_is_kept_locked(
    adapter, admin_config, root, resource, logins
):
    replaced, heir = logins
    before = _defined(root, resource.database)
    root.execute("REVOKE SET USER ON *.* FROM %s@'%%'", (admin_config.username,))
    try:
        left = adapter.hand_over_definitions(resource.database, [replaced.username],
                                             heir.username)
    finally:
        root.execute("GRANT SET USER ON *.* TO %s@'%%'", (admin_config.username,))
    adapter.remove_login(resource.database, replaced.username)

    assert [each.split(" is still defined by its old login: ")[0] for each in left] == [
        "event `nightly`", "function `slashed`", "procedure `noted`",
        "procedure `odd``\\x0aproc`",
        "view `odd``\\x0aview %s`", "view `slashes`", "trigger `first`",
        "trigger `second``\\x0a%s`", "trigger `third`", "trigger `stamped`"]
    assert all("SET USER" in each for each in left)
    assert _defined(root, resource.database) == before
    _assert_working(heir)
    root.execute("SHOW CREATE USER %s@'%%'", (replaced.username,))
    assert "ACCOUNT LOCK" in root.fetchone()[0]


def test_a_frozen_resource_is_handed_over_too(adapter, root, resource, logins):
    replaced, heir = logins
    owners = {replaced.username: Access.OWNER, heir.username: Access.OWNER}
    adapter.freeze(resource.database, owners)

    left = adapter.hand_over_definitions(resource.database, [replaced.username],
                                         heir.username)
    adapter.remove_login(resource.database, replaced.username)

    assert left == []
    assert {row[2] for row in _defined(root, resource.database)} == {f"{heir.username}@%"}
    with _session(heir) as cur, pytest.raises(pymysql.MySQLError) as refused:
        cur.execute("CALL noted()")  # runs as the heir, frozen: no writing through it
    assert refused.value.args[0] == TABLE_ACCESS_DENIED
    adapter.unfreeze(resource.database, {heir.username: Access.OWNER})
    _assert_working(heir)


def test_routines_the_admin_may_not_read_stay_and_the_rest_is_handed_over(
    adapter, admin_config, root, resource, logins
):
    replaced, heir = logins
    root.execute("REVOKE SELECT ON mysql.proc FROM %s@'%%'", (admin_config.username,))
    try:
        left = adapter.hand_over_definitions(resource.database, [replaced.username],
                                             heir.username)
    finally:
        root.execute("GRANT SELECT ON mysql.proc TO %s@'%%'", (admin_config.username,))
    adapter.remove_login(resource.database, replaced.username)

    assert left == [
        f"{routine} is still defined by its old login: the admin may not read its definition "
        "(SELECT on mysql.proc)"
        for routine in ("function `slashed`", "procedure `noted`", "procedure `odd``\\x0aproc`")]
    definers = {row[1]: row[2] for row in _defined(root, resource.database)}
    assert {name for name, by in definers.items() if by != f"{heir.username}@%"} == {
        "slashed", "noted", "odd`\nproc"}
    _assert_working(heir)  # the routines still run, as their locked definer
