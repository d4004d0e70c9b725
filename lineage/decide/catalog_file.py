"""A catalog JSON file, read strictly: every refusal names the line and column.

    read_json(b'{"crm": {"customers": {"id": "integer"}}}', "catalog.json")
    -> {"crm": {"customers": {"id": "integer"}}}

Refused: bytes that are not UTF-8, text that is not JSON, duplicate keys (JSON parsers keep
the last one silently), nesting deeper than a catalog can be (``MAX_DEPTH``), and column
types that are not type names in the catalog's dialect (``type_problem``). Positions come
from ``locate``, which walks the text only when there is something to report.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Iterable

MAX_DEPTH = 8  # database.schema.table.column is four levels

_WHITESPACE = " \t\n\r"
_DECODER = json.JSONDecoder()


class JsonFileError(Exception):
    def __init__(self, line: int | None, column: int | None, message: str):
        super().__init__(message)
        self.line = line
        self.column = column
        self.message = message


def read_json(data: bytes) -> tuple[Any, str]:
    """The decoded object and the text it came from."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line, column = line_and_column(data.decode("utf-8", errors="replace"), _chars_before(data, error.start))
        raise JsonFileError(line, column, f"not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as error:
        raise JsonFileError(error.lineno, error.colno, f"not JSON: {error.msg}") from None
    except _Duplicate as duplicate:
        position = _duplicate_position(text, duplicate.key)
        line, column = line_and_column(text, position) if position is not None else (None, None)
        raise JsonFileError(line, column, f"duplicate key {json.dumps(duplicate.key)} (JSON keeps only the last one)") from None
    except RecursionError:
        line, column = line_and_column(text, _too_deep(text))
        raise JsonFileError(line, column, f"nested more than {MAX_DEPTH} levels deep") from None
    if too_deep(value):
        line, column = line_and_column(text, _too_deep(text))
        raise JsonFileError(line, column, f"nested more than {MAX_DEPTH} levels deep")
    return value, text


class _Duplicate(Exception):
    def __init__(self, key: str):
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def too_deep(value: Any) -> bool:
    """True when ``value`` nests objects or lists deeper than ``MAX_DEPTH``."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > MAX_DEPTH:
                return True
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


def locate(text: str, path: Iterable[str], occurrence: int = 1) -> int | None:
    """The offset where the value at ``path`` (object keys) starts; ``occurrence`` picks a
    repeated last key. None when the path is not there."""
    keys = list(path)
    position = _skip(text, 0)
    for number, wanted in enumerate(keys):
        if position >= len(text) or text[position] != "{":
            return None
        seen = 0
        position = _skip(text, position + 1)
        while True:
            if position >= len(text) or text[position] == "}":
                return None
            key, position = json.decoder.scanstring(text, position + 1)
            position = _skip(text, _skip(text, position) + 1)  # past the colon
            if key == wanted:
                seen += 1
                if number < len(keys) - 1 or seen == occurrence:
                    break
            _, position = _DECODER.raw_decode(text, position)
            position = _skip(text, position)
            if position < len(text) and text[position] == ",":
                position = _skip(text, position + 1)
    return position


def line_and_column(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in _WHITESPACE:
        position += 1
    return position


def _chars_before(data: bytes, offset: int) -> int:
    return len(data[:offset].decode("utf-8", errors="replace"))


def _duplicate_position(text: str, key: str) -> int | None:
    """Where the second ``key`` of one object is: found by walking every object in order."""
    value = json.loads(text)  # the last value wins here; only the paths matter
    stack: list[tuple[str, ...]] = [()]
    while stack:
        path = stack.pop()
        found = locate(text, path + (key,), occurrence=2)
        if found is not None:
            return found
        node = value
        for part in path:
            node = node[part]
        stack.extend(path + (child,) for child, item in node.items() if isinstance(item, dict))
    return None


def _too_deep(text: str) -> int:
    """The offset of the first bracket past ``MAX_DEPTH`` (strings skipped)."""
    depth, position, in_string = 0, 0, False
    while position < len(text):
        char = text[position]
        if in_string:
            if char == "\\":
                position += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return position
        elif char in "]}":
            depth -= 1
        position += 1
    return 0


# PostgreSQL's information_schema spells these in ways sqlglot does not read as types
_INFORMATION_SCHEMA_TYPES = ("bit varying",)


@functools.lru_cache(maxsize=4096)
def type_problem(text: Any, dialect: str) -> str | None:
    """Why ``text`` is not a column type in ``dialect`` (None when it is): a type sqlglot
    reads, or a user-defined type's (qualified) name."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import SqlglotError

    if not isinstance(text, str) or not text.strip():
        return f"a column type is a non-empty string, got {json.dumps(text)[:60]}"
    for spelling in _INFORMATION_SCHEMA_TYPES:
        rest = text.strip().lower().removeprefix(spelling)
        if rest != text.strip().lower() and (not rest or (rest.startswith("(") and rest.endswith(")") and rest[1:-1].isdigit())):
            return None
    try:
        sqlglot.parse_one(text, into=exp.DataType, dialect=dialect)
        return None
    except (SqlglotError, ValueError, TypeError):
        pass
    try:
        name = sqlglot.parse_one(text, into=exp.Table, dialect=dialect)
    except (SqlglotError, ValueError, TypeError):
        name = None
    if isinstance(name, exp.Table) and set(key for key, value in name.args.items() if value) <= {"this", "db", "catalog"}:
        return None  # a user-defined type: my_enum, public.my_enum
    return f"{json.dumps(text)[:60]} is not a {dialect} column type"
