"""A MySQL dump's views, triggers, routines and events are restored as the restoring
owner's, whichever account the dump names, wherever the stream's chunks happen to split
it; rows are never rewritten. On the real server: the dump holds what the owner login may
read, and says what it leaves out."""

from __future__ import annotations

import pytest

from providers.adapters.base import Access, Credentials, Login
from providers.adapters.mysql_dumps import _defined_by_restorer
from providers.adapters.mysql_names import grant_target
from providers.adapters.naming import new_login_name, new_password
from tests.providers.mysql_support import (  # noqa: F401 (fixtures)
    connect,
    mysql_adapter,
    mysql_admin_config,
    mysql_names,
    mysql_resource,
    mysql_root,
)

DUMP = (
    b"/*!50001 CREATE ALGORITHM=UNDEFINED */\n"
    b"/*!50013 DEFINER=`rm_source`@`%` SQL SECURITY DEFINER */\n"
    b"/*!50001 VIEW `recent` AS select 1 */;\n"
    b"INSERT INTO `notes` VALUES (1,'/*!50013 DEFINER=`rm_source`@`%` kept as written');\n"
    b"INSERT INTO `notes` VALUES\n"
    b"('CREATE DEFINER=`rm_source`@`%` PROCEDURE kept too'),\n"
    b"('/*!50003 CREATE*/ /*!50017 DEFINER=`rm_source`@`%`*/');\n"
    b"/*!50003 CREATE*/ /*!50017 DEFINER=`odd``name`@`localhost`*/ /*!50003 TRIGGER t "
    b"BEFORE INSERT ON `notes` FOR EACH ROW SET NEW.id = NEW.id */;;\n"
    b"/*!50106 CREATE*/ /*!50117 DEFINER=`rm_source`@`%`*/ /*!50106 EVENT `nightly` ON "
    b"SCHEDULE EVERY 1 DAY DO DELETE FROM notes */ ;;\n"
    b"CREATE DEFINER=`rm_source_a1b2c3`@`%` PROCEDURE `tidy`()\n"
    b"BEGIN DELETE FROM notes; END\n"
    b"CREATE DEFINER=`rm_source`@`%` FUNCTION `twice`(x INT) RETURNS int(11)\n"
    b"-- Dump completed"
)
EXPECTED = (
    b"/*!50001 CREATE ALGORITHM=UNDEFINED */\n"
    b"/*!50013 DEFINER=CURRENT_USER SQL SECURITY DEFINER */\n"
    b"/*!50001 VIEW `recent` AS select 1 */;\n"
    b"INSERT INTO `notes` VALUES (1,'/*!50013 DEFINER=`rm_source`@`%` kept as written');\n"
    b"INSERT INTO `notes` VALUES\n"
    b"('CREATE DEFINER=`rm_source`@`%` PROCEDURE kept too'),\n"
    b"('/*!50003 CREATE*/ /*!50017 DEFINER=`rm_source`@`%`*/');\n"
    b"/*!50003 CREATE*/ /*!50017 DEFINER=CURRENT_USER*/ /*!50003 TRIGGER t "
    b"BEFORE INSERT ON `notes` FOR EACH ROW SET NEW.id = NEW.id */;;\n"
    b"/*!50106 CREATE*/ /*!50117 DEFINER=CURRENT_USER*/ /*!50106 EVENT `nightly` ON "
    b"SCHEDULE EVERY 1 DAY DO DELETE FROM notes */ ;;\n"
    b"CREATE DEFINER=CURRENT_USER PROCEDURE `tidy`()\n"
    b"BEGIN DELETE FROM notes; END\n"
    b"CREATE DEFINER=CURRENT_USER FUNCTION `twice`(x INT) RETURNS int(11)\n"
    b"-- Dump completed"
)


@pytest.mark.parametrize("size", [1, 7, 64, len(DUMP)])
def test_definers_become_the_restoring_owner_whatever_the_chunks(size):
    chunks = [DUMP[start:start + size] for start in range(0, len(DUMP), size)]

    assert b"".join(_defined_by_restorer(chunks)) == EXPECTED


def _dump(adapter, credentials: Credentials) -> bytes:
    with adapter.dump(credentials) as chunks:
        return b"".join(chunks)


def _define(credentials: Credentials, *statements: str) -> None:
    with connect(credentials, database=credentials.database) as conn, conn.cursor() as cur:
        for statement in statements:
            cur.execute(statement)


def test_the_dump_holds_the_owners_routines_and_events(adapter, resource):
    _define(resource, "CREATE TABLE notes (id INT PRIMARY KEY)",
            "CREATE PROCEDURE tidy() DELETE FROM notes",
            "CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
            "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DO DELETE FROM notes")

    dump = _dump(adapter, resource)

    assert adapter.is_dump(dump[:256])
    for made in (b"PROCEDURE `tidy`", b"FUNCTION `twice`", b"EVENT `nightly`",
                 b"DROP PROCEDURE IF EXISTS `tidy`", b"DROP EVENT IF EXISTS `nightly`"):
        assert made in dump
    assert b"Left out" not in dump


def test_routines_another_login_defined_leave_the_routines_out_with_a_note(
    adapter, resource
):
    """The note names them, on a line of its own whatever their names hold."""
    other = adapter.add_login(resource.database, Login(
        new_login_name(resource.database), new_password(), Access.OWNER))
    try:
        _define(resource, "CREATE TABLE notes (id INT PRIMARY KEY)",
                "CREATE FUNCTION twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
                "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DO DELETE FROM notes")
        _define(other, "CREATE PROCEDURE `tidy\nDROP TABLE notes; --`() DELETE FROM notes",
                "CREATE EVENT hourly ON SCHEDULE EVERY 1 HOUR DO DELETE FROM notes")

        dump = _dump(adapter, resource)
    finally:
        adapter.delete(resource.database)

    assert b"CREATE TABLE `notes`" in dump
    assert b"PROCEDURE `tidy" not in dump and b"FUNCTION `twice`" not in dump
    assert b"EVENT `nightly`" in dump and b"EVENT `hourly`" in dump  # EVENT suffices
    assert dump.endswith(
        b"\n-- Left out of this dump: stored routines, as login " + resource.username.encode()
        + b" may not read what another login defined: procedure `tidy\\x0aDROP TABLE notes; --` "
        b"(defined by "
        + other.username.encode() + b"@%)\n")


def test_a_frozen_owner_dumps_its_triggers_and_events_too(adapter, resource):
    _define(resource, "CREATE TABLE notes (id INT PRIMARY KEY)", "INSERT INTO notes VALUES (1)",
            "CREATE PROCEDURE tidy() DELETE FROM notes",
            "CREATE TRIGGER stamp BEFORE INSERT ON notes FOR EACH ROW SET NEW.id = NEW.id",
            "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DO DELETE FROM notes")
    adapter.freeze(resource.database, {resource.database: Access.OWNER})

    dump = _dump(adapter, resource)

    assert b"INSERT INTO `notes` VALUES" in dump and b"PROCEDURE `tidy`" in dump
    assert b"TRIGGER stamp BEFORE" in dump and b"EVENT `nightly`" in dump
    assert b"Left out" not in dump
    with pytest.raises(Exception, match="denied"):  # frozen all the same
        _define(resource, "INSERT INTO notes VALUES (2)")


def test_an_owner_without_the_event_privilege_dumps_without_events_with_a_note(
    adapter, resource, root
):
    _define(resource, "CREATE TABLE notes (id INT PRIMARY KEY)",
            "CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DO DELETE FROM notes")
    root.execute(f"REVOKE EVENT ON {grant_target(resource.database)} FROM %s@'%%'",
                 (resource.username,))

    dump = _dump(adapter, resource)

    assert b"CREATE TABLE `notes`" in dump and b"EVENT `nightly`" not in dump
    assert b"\n-- Left out of this dump: events: login " + resource.username.encode() + (
        b" lacks the EVENT privilege") in dump
