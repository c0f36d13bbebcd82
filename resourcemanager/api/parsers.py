"""The API's one parser: JSON bodies, refused as malformed (400 ``malformed_request``) where
Python's decoder would fail deep inside (nested past its stack) or would let through a
string that is not Unicode text (a lone surrogate, ``"\\ud800"``), which no response
could echo and no backend would take."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        if _holds_lone_surrogate(data):
            raise ParseError("JSON parse error - a string holds a lone surrogate "
                             "(\\ud800 to \\udfff), which is not Unicode text")
        return data


def _holds_lone_surrogate(data: Any) -> bool:
    waiting = [data]
    while waiting:
        value = waiting.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            waiting.extend(value.keys())
            waiting.extend(value.values())
        elif isinstance(value, list):
            waiting.extend(value)
    return False
