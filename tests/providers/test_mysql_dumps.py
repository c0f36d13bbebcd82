"""A MySQL dump's views and triggers are restored as the restoring owner's, whichever
account the dump names, wherever the stream's chunks happen to split it; rows are never
rewritten."""

from __future__ import annotations

import pytest

from providers.adapters.mysql_dumps import _defined_by_restorer

DUMP = (
    b"/*!50001 CREATE ALGORITHM=UNDEFINED */\n"
    b"/*!50013 DEFINER=`rm_source`@`%` SQL SECURITY DEFINER */\n"
    b"/*!50001 VIEW `recent` AS select 1 */;\n"
    b"INSERT INTO `notes` VALUES (1,'/*!50013 DEFINER=`rm_source`@`%` kept as written');\n"
    b"/*!50003 CREATE*/ /*!50017 DEFINER=`odd``name`@`localhost`*/ /*!50003 TRIGGER t "
    b"BEFORE INSERT ON `notes` FOR EACH ROW SET NEW.id = NEW.id */;;\n"
    b"-- Dump completed"
)
EXPECTED = (
    b"/*!50001 CREATE ALGORITHM=UNDEFINED */\n"
    b"/*!50013 DEFINER=CURRENT_USER SQL SECURITY DEFINER */\n"
    b"/*!50001 VIEW `recent` AS select 1 */;\n"
    b"INSERT INTO `notes` VALUES (1,'/*!50013 DEFINER=`rm_source`@`%` kept as written');\n"
    b"/*!50003 CREATE*/ /*!50017 DEFINER=CURRENT_USER*/ /*!50003 TRIGGER t "
    b"BEFORE INSERT ON `notes` FOR EACH ROW SET NEW.id = NEW.id */;;\n"
    b"-- Dump completed"
)


@pytest.mark.parametrize("size", [1, 7, 64, len(DUMP)])
def test_definers_become_the_restoring_owner_whatever_the_chunks(size):
    chunks = [DUMP[start:start + size] for start in range(0, len(DUMP), size)]

    assert b"".join(_defined_by_restorer(chunks)) == EXPECTED
