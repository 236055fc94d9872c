"""The API's JSON parser: DRF's, with bounds, so that no body can make the server fail.

A body nested deeper than ``API_MAX_JSON_DEPTH`` (or deep enough to exhaust Python's
recursion) and any string holding a NUL character (which PostgreSQL cannot store) are
refused with 400 and a stable code before a view sees them. Request size is bounded by
``DATA_UPLOAD_MAX_MEMORY_SIZE``; string lengths by each serializer.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class TooDeeplyNested(ParseError):
    default_detail = "The JSON body is nested too deeply."
    default_code = "too_deeply_nested"


class NulCharacter(ParseError):
    default_detail = "The JSON body contains a NUL character (\\u0000)."
    default_code = "nul_character"


def _check(value: Any, depth: int, limit: int) -> None:
    """Walk the parsed body without recursion: depth and NUL characters."""
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise NulCharacter()
            continue
        if not isinstance(item, dict | list):
            continue
        if level > limit:
            raise TooDeeplyNested()
        children = list(item.items()) if isinstance(item, dict) else [(None, v) for v in item]
        for key, child in children:
            if isinstance(key, str) and "\x00" in key:
                raise NulCharacter()
            stack.append((child, level + 1))


class BoundedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:  # the decoder gave up first
            raise TooDeeplyNested() from exc
        _check(data, 1, getattr(settings, "API_MAX_JSON_DEPTH", 16))
        return data
